/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the statistics read from /proc and /sys (issue 13, part stats): the parsers take
 * text, so unit tests feed them without a process; the readers are small wrappers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain-stats.h"

/* A whole decimal number at *p (no sign), advancing p past it. */
static gboolean
take_u64(const char **p, guint64 *out)
{
    const char *s = *p;
    guint64 v = 0;

    if (!g_ascii_isdigit(*s))
        return FALSE;
    while (g_ascii_isdigit(*s)) {
        guint d = (guint)(*s - '0');

        if (v > (G_MAXUINT64 - d) / 10)
            return FALSE;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return TRUE;
}

/**
 * vb_proc_stat_parse:
 * @text: the contents of /proc/PID/stat or /proc/PID/task/TID/stat
 *
 * Reads utime (field 14), stime (15), rss (24) and processor (39, -1 when the line is
 * shorter). The command name (field 2) may hold spaces and parentheses: fields are
 * counted after its last ')'. Any thread.
 *
 * Returns: %FALSE when @text is not such a line
 */
gboolean
vb_proc_stat_parse(const char *text, VbProcStat *out_stat)
{
    const char *p = strrchr(text, ')');
    VbProcStat st = { 0, 0, 0, -1 };
    int field = 2;

    if (p == NULL)
        return FALSE;
    p++;
    while (*p != '\0' && *p != '\n') {
        guint64 v = 0;

        while (*p == ' ')
            p++;
        if (*p == '\0' || *p == '\n')
            break;
        field++;
        if (field == 14 || field == 15 || field == 24 || field == 39) {
            if (!take_u64(&p, &v))
                return FALSE;
            if (field == 14)
                st.utime = v;
            else if (field == 15)
                st.stime = v;
            else if (field == 24)
                st.rss = v;
            else
                st.processor = v <= G_MAXINT ? (int)v : -1;
        }
        while (*p != ' ' && *p != '\0' && *p != '\n')
            p++;
    }
    if (field < 24)
        return FALSE;
    *out_stat = st;
    return TRUE;
}

/**
 * vb_proc_sched_wait_parse:
 * @text: the contents of /proc/PID/task/TID/sched
 *
 * The time the thread waited to run (se.statistics.wait_sum, or se.wait_sum on newer
 * kernels: milliseconds with a fraction), in ns, as libvirt's vcpu.N.wait. Any thread.
 *
 * Returns: %FALSE when the line is absent (kernels without schedstats)
 */
gboolean
vb_proc_sched_wait_parse(const char *text, guint64 *out_ns)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++) {
        const char *l = lines[i];
        const char *colon;
        guint64 ms = 0, frac = 0;
        guint digits = 0;

        if (!g_str_has_prefix(l, "se.statistics.wait_sum") && !g_str_has_prefix(l, "se.wait_sum"))
            continue;
        colon = strchr(l, ':');
        if (colon == NULL)
            return FALSE;
        colon++;
        while (*colon == ' ')
            colon++;
        if (!take_u64(&colon, &ms))
            return FALSE;
        if (*colon == '.') {
            colon++;
            while (g_ascii_isdigit(*colon) && digits < 6) {
                frac = frac * 10 + (guint64)(*colon - '0');
                colon++;
                digits++;
            }
            while (digits++ < 6)
                frac *= 10;
        }
        if (ms > G_MAXUINT64 / 1000000)
            return FALSE;
        *out_ns = ms * 1000000 + frac;
        return TRUE;
    }
    return FALSE;
}

/**
 * vb_proc_schedstat_delay_parse:
 * @text: the contents of /proc/PID/task/TID/schedstat ("run wait slices")
 *
 * The time spent waiting on a run queue (the second number), in ns: libvirt's
 * vcpu.N.delay. Any thread.
 */
gboolean
vb_proc_schedstat_delay_parse(const char *text, guint64 *out_ns)
{
    const char *p = text;
    guint64 run, wait;

    if (!take_u64(&p, &run) || *p != ' ')
        return FALSE;
    while (*p == ' ')
        p++;
    if (!take_u64(&p, &wait))
        return FALSE;
    *out_ns = wait;
    return TRUE;
}

/* Clock ticks (USER_HZ) to ns. */
guint64
vb_proc_ticks_to_ns(guint64 ticks)
{
    long hz = sysconf(_SC_CLK_TCK);

    return ticks * (1000000000ull / (guint64)(hz > 0 ? hz : 100));
}

/**
 * vb_proc_read_stat:
 * @tid: a thread of @pid, or 0 for the whole process
 *
 * Reads and parses /proc/@pid/stat or /proc/@pid/task/@tid/stat. Any thread (a read of a
 * proc file never blocks on a caller).
 */
gboolean
vb_proc_read_stat(int pid, int tid, VbProcStat *out_stat)
{
    g_autofree char *path = tid > 0 ? g_strdup_printf("/proc/%d/task/%d/stat", pid, tid)
                                    : g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *text = NULL;

    if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
        return FALSE;
    return vb_proc_stat_parse(text, out_stat);
}

/**
 * vb_proc_read_u64:
 *
 * Reads one decimal number from a file such as /sys/class/net/DEV/statistics/rx_bytes.
 * Returns 0 with @out_ok FALSE when it cannot.
 */
guint64
vb_proc_read_u64(const char *path, gboolean *out_ok)
{
    g_autofree char *text = NULL;
    const char *p;
    guint64 v = 0;

    *out_ok = FALSE;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    p = text;
    while (*p == ' ')
        p++;
    if (!take_u64(&p, &v))
        return 0;
    *out_ok = TRUE;
    return v;
}
