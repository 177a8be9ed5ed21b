/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <libxml/parser.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <libxml/tree.h>
#include <string.h>

#include "domain-agent.h"
#include "domain-blockops.h" /* issue 15, part bjrestart */
#include "domain-hotplug.h"
#include "domain-cgroup.h"
#include "domain-chain.h"
#include "domain-list-priv.h"
#include "domain-snapshot-journal.h" /* issue 15, part svckill */
#include "domain-status-parse.h" /* issue 14: parsed apart, fuzzed */
#include "domain-vcpuio.h" /* issue 13, part vcpuio */
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * After a restart of the service: every status XML in the run directory
 * is a domain that was running. Its QEMU is taken back if it is still the
 * same process (its /proc cmdline names the binary and the domain's
 * uuid), else the domain is shut off as crashed and its runtime files
 * removed. Runs at start-up, before the bus name is owned.
 */

/* the <cgroup><dir>s of the status, NULL-terminated (issue 14, part cgroup) */
static const char *const *
status_dirs(VbDomainStatusFile *s)
{
    return vb_domain_status_file_cgroup_dirs(s);
}

/* Whether @pid is still the QEMU of domain @uuid run by @binary. */
static gboolean
same_qemu(pid_t pid, const char *binary, const char *uuid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;
    gboolean has_uuid = FALSE;

    if (!g_file_get_contents(path, &cmdline, &len, NULL) || len == 0)
        return FALSE;
    if (binary != NULL && g_strcmp0(cmdline, binary) != 0)
        return FALSE;
    for (gsize off = 0; off < len; off += strlen(cmdline + off) + 1) {
        if (g_str_equal(cmdline + off, "-uuid") && off + 6 < len)
            has_uuid = g_ascii_strcasecmp(cmdline + off + 6, uuid) == 0;
    }
    return has_uuid;
}

/* The pid in QEMU's pidfile, or 0. */
static pid_t
read_pidfile(const char *pidfile)
{
    g_autofree char *contents = NULL;
    gint64 pid;

    if (pidfile == NULL || !g_file_get_contents(pidfile, &contents, NULL, NULL))
        return 0;
    pid = g_ascii_strtoll(g_strstrip(contents), NULL, 10);
    return pid > 1 && pid <= G_MAXINT ? (pid_t)pid : 0;
}

/* Whether @pid's command line has "-pidfile @pidfile": a QEMU of this start. */
static gboolean
has_pidfile_arg(pid_t pid, const char *pidfile)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &cmdline, &len, NULL))
        return FALSE;
    for (gsize off = 0; off < len; off += strlen(cmdline + off) + 1) {
        gsize next = off + strlen(cmdline + off) + 1;

        if (g_str_equal(cmdline + off, "-pidfile") && next < len)
            return g_str_equal(cmdline + next, pidfile);
    }
    return FALSE;
}

/*
 * The QEMU of a start that never finished (the service was killed while
 * starting it): the pid the status recorded, else the pidfile's, else any
 * process started with this domain's pidfile (QEMU had not written it
 * yet). Returns 0 when there is none.
 */
static pid_t
find_unfinished_qemu(const VbDomainStatusFile *s, const char *uuid)
{
    g_autoptr(GDir) proc = NULL;
    const char *entry;
    pid_t pid;

    if (s->pid > 0 && same_qemu(s->pid, NULL, uuid))
        return s->pid;
    pid = read_pidfile(s->pidfile);
    if (pid > 0 && same_qemu(pid, NULL, uuid))
        return pid;
    if (s->pidfile == NULL || (proc = g_dir_open("/proc", 0, NULL)) == NULL)
        return 0;
    while ((entry = g_dir_read_name(proc)) != NULL) {
        gint64 n = g_ascii_strtoll(entry, NULL, 10);

        if (n > 1 && n <= G_MAXINT && n != getpid() && has_pidfile_arg((pid_t)n, s->pidfile) &&
            same_qemu((pid_t)n, NULL, uuid))
            return (pid_t)n;
    }
    return 0;
}

/* Arguments of @pid's command line, NULL-terminated; NULL when it has gone. */
static char **
cmdline_args(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    gsize len = 0;

    if (!g_file_get_contents(path, &cmdline, &len, NULL) || len == 0)
        return NULL;
    for (gsize off = 0; off < len; off += strlen(cmdline + off) + 1)
        g_ptr_array_add(out, g_strdup(cmdline + off));
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

/*
 * The QEMU of a run whose status file cannot be read: a process of this service's (its
 * -pidfile is in the run directory) whose -uuid is @uuid (the persistent definition's) or,
 * without one, whose -name is guest=@name (commas doubled as QEMU's options write them).
 * Returns 0 when there is none.
 */
static pid_t
find_qemu_of(VbDomainList *list, const char *name, const char *uuid)
{
    g_autofree char *run_prefix = g_strconcat(list->paths->run_dir, "/", NULL);
    g_autofree char *escaped = NULL;
    g_autofree char *want_name = NULL;
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    g_auto(GStrv) parts = g_strsplit(name, ",", -1);
    const char *entry;

    escaped = g_strjoinv(",,", parts);
    want_name = g_strconcat("guest=", escaped, ",", NULL);
    while (proc != NULL && (entry = g_dir_read_name(proc)) != NULL) {
        gint64 n = g_ascii_strtoll(entry, NULL, 10);
        g_auto(GStrv) args = NULL;
        gboolean ours = FALSE, match = FALSE;

        if (n <= 1 || n > G_MAXINT || n == getpid() || (args = cmdline_args((pid_t)n)) == NULL)
            continue;
        for (guint i = 0; args[i] != NULL && args[i + 1] != NULL; i++) {
            if (g_str_equal(args[i], "-pidfile"))
                ours = g_str_has_prefix(args[i + 1], run_prefix);
            else if (uuid != NULL && g_str_equal(args[i], "-uuid"))
                match = g_ascii_strcasecmp(args[i + 1], uuid) == 0;
            else if (uuid == NULL && g_str_equal(args[i], "-name"))
                match = g_str_has_prefix(args[i + 1], want_name);
        }
        if (ours && match)
            return (pid_t)n;
    }
    return 0;
}

/* SIGKILLs @pid (through a pidfd: exactly that process) and waits for its end. */
static void
kill_and_wait(pid_t pid, const char *name)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    if (fd < 0)
        return; /* already gone */
    if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "cannot kill QEMU (pid %d): %s", (int)pid,
                      g_strerror(errno));
    else if (poll(&pfd, 1, 10000) <= 0)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "QEMU (pid %d) did not exit after SIGKILL",
                      (int)pid);
    close(fd);
}

static void
remove_leftovers(VbDomainList *list, const VbDomainStatusFile *s, const char *name)
{
    g_autofree char *status = vb_domain_status_path(list, name);

    if (s->monitor_path != NULL)
        g_unlink(s->monitor_path);
    if (s->pidfile != NULL)
        g_unlink(s->pidfile);
    if (s->runtime_dir != NULL) {
        g_autoptr(GDir) d = g_dir_open(s->runtime_dir, 0, NULL);
        const char *entry;

        while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
            g_autofree char *p = g_build_filename(s->runtime_dir, entry, NULL);

            g_unlink(p);
        }
        g_rmdir(s->runtime_dir);
    }
    /* the partial file of an async job whose QEMU is gone */
    if (s->temp_file != NULL)
        g_unlink(s->temp_file);
    vb_store_remove(status, NULL);
}

/* The domain object the status belongs to: the persistent one, or a new transient one;
 * NULL when the definition cannot be copied (it is logged). */
static VbDomainObj *
domain_for(VbDomainList *list, VbDomainDef *live, const char *uuid, gboolean *out_new)
{
    VbDomainObj *dom;
    VbDomainDef *copy;
    g_autofree char *path = NULL;

    *out_new = FALSE;
    {
        /* a running persistent domain: its stub is loaded (issue 16; start-up, before the
         * bus; its config was read a moment ago, so this fails only if it changed since) */
        g_autoptr(GError) error = NULL;

        if (!vb_domain_list_load_stub(list, uuid, &error)) {
            g_warning("%s", error->message);
            return NULL;
        }
    }
    g_mutex_lock(&list->lock);
    dom = g_hash_table_lookup(list->by_uuid, uuid);
    if (dom != NULL) {
        vb_domain_obj_ref(dom);
        g_mutex_unlock(&list->lock);
        *out_new = FALSE;
        return dom;
    }
    copy = vb_domain_def_copy(live);
    if (copy == NULL) {
        /* it was just parsed: only a defect of the format gets here (it is logged) */
        g_mutex_unlock(&list->lock);
        return NULL;
    }
    path = list->path_func(uuid);
    dom = vb_domain_obj_new(copy, path);
    vb_domain_list_insert(list, dom, live->name);
    g_mutex_unlock(&list->lock);
    *out_new = TRUE;
    return dom;
}

static void
adopt_runtime(VbDomainList *list, VbDomainObj *dom, VbDomainStatusFile *s, VbDomainDef *live,
              VbQemuCaps *caps)
{
    int state = vb_domain_state_from_string(s->state);
    int reason = vb_domain_reason_from_string(s->reason);

    g_mutex_lock(&dom->lock);
    if (dom->persistent && dom->new_def == NULL)
        dom->new_def = g_steal_pointer(&dom->def);
    vb_domain_def_free(dom->def);
    dom->def = live;
    dom->caps = caps;
    dom->runtime_dir = g_steal_pointer(&s->runtime_dir);
    dom->monitor_path = g_strdup(s->monitor_path);
    dom->pidfile = g_steal_pointer(&s->pidfile);
    dom->id = s->id;
    dom->taint = s->taint;
    dom->autodestroy_owner = g_steal_pointer(&s->autodestroy_owner);
    vb_domain_obj_set_state(dom, state >= 0 ? state : VB_DOMAIN_STATE_RUNNING,
                            reason >= 0 ? reason : VB_DOMAIN_REASON_UNKNOWN);
    g_mutex_unlock(&dom->lock);
    while (g_atomic_int_get(&list->next_id) < s->id)
        g_atomic_int_set(&list->next_id, s->id);
}

#define RECOVER_TIMEOUT_MS 30000

static JsonNode *
recover_cmd(VbQemuMonitor *mon, const char *cmd, const char *name)
{
    g_autoptr(GError) error = NULL;
    JsonNode *r = vb_qemu_monitor_command(mon, cmd, NULL, RECOVER_TIMEOUT_MS, &error);

    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "job recovery: %s: %s", cmd, error->message);
    return r;
}

/* Waits (bounded) until QEMU's migration or dump no longer runs; returns
 * the status it ended in ("none" when QEMU did not say). */
static char *
recover_wait_idle(VbQemuMonitor *mon, const char *query, const char *name)
{
    for (int i = 0;; i++) {
        g_autoptr(JsonNode) q = recover_cmd(mon, query, name);
        JsonObject *o = q != NULL && JSON_NODE_HOLDS_OBJECT(q) ? json_node_get_object(q) : NULL;
        const char *st = o != NULL && json_object_has_member(o, "status")
                             ? json_object_get_string_member(o, "status") : "none";

        /* "pre-switchover": a source stopped before its switch-over for its storage copy */
        if (i == 300 || (!g_str_equal(st, "active") && !g_str_equal(st, "setup") &&
                         !g_str_equal(st, "cancelling") && !g_str_equal(st, "device") &&
                         !g_str_equal(st, "pre-switchover")))
            return g_strdup(st);
        g_usleep(100 * 1000);
    }
}

static const char *const COPY_JOBS[] = { "drive-", "vbjob-", NULL };
/* the commits of an external snapshot's Delete (domain-snapshot-external.c): the delete
 * held a sync job only, nothing records it; cancelled, the snapshot and its overlays stay
 * as the metadata says (a commit does not change what the guest reads) */
static const char *const SNAPSHOT_DELETE_JOBS[] = { "vbsnapdel-", NULL };

static gboolean
has_any_prefix(const char *s, const char *const *prefixes)
{
    for (guint i = 0; prefixes[i] != NULL; i++) {
        if (g_str_has_prefix(s, prefixes[i]))
            return TRUE;
    }
    return FALSE;
}

/*
 * The mirrors of an interrupted storage copy (issue 11, part nbd): jobs
 * "drive-*" and the NBD client nodes "migration-*" go; the source keeps its
 * own images. Also the block jobs of @prefixes. Bounded; at start-up, before anything else
 * talks to QEMU.
 */
static void
recover_block_jobs(VbQemuMonitor *mon, const char *name, const char *const *prefixes,
                   gboolean snapshot_delete)
{
    for (int round = 0; round < 50; round++) {
        g_autoptr(JsonNode) q = recover_cmd(mon, "query-block-jobs", name);
        JsonArray *a = q != NULL && JSON_NODE_HOLDS_ARRAY(q) ? json_node_get_array(q) : NULL;
        guint left = 0;

        for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
            JsonNode *n = json_array_get_element(a, i);
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
            const char *dev = o != NULL ? json_object_get_string_member_with_default(o, "device",
                                                                                     "")
                                        : "";
            const char *st = o != NULL ? json_object_get_string_member_with_default(o, "status",
                                                                                    "")
                                       : "";
            JsonObject *args = json_object_new();
            g_autoptr(JsonNode) r = NULL;

            /* vbjob-*: a BlockPull/BlockCommit (issue 15, part blockjob) */
            if (!has_any_prefix(dev, prefixes)) {
                json_object_unref(args);
                continue;
            }
            left++;
            json_object_set_string_member(args, strcmp(st, "concluded") == 0 ? "id" : "device",
                                          dev);
            if (strcmp(st, "concluded") == 0) {
                r = vb_qemu_monitor_command(mon, "job-dismiss", args, RECOVER_TIMEOUT_MS, NULL);
            } else {
                json_object_set_boolean_member(args, "force", TRUE);
                r = vb_qemu_monitor_command(mon, "block-job-cancel", args, RECOVER_TIMEOUT_MS,
                                            NULL);
            }
            if (round == 0)
                VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name,
                              snapshot_delete
                                  ? "job recovery: the commit %s of an interrupted snapshot "
                                    "deletion is cancelled"
                                  : "job recovery: the mirror %s of the storage copy is "
                                    "cancelled", dev);
        }
        if (left == 0)
            break;
        g_usleep(100 * 1000);
    }
    for (int layer = 0; layer < 2; layer++) {
        g_autoptr(JsonNode) q = recover_cmd(mon, "query-named-block-nodes", name);
        JsonArray *a = q != NULL && JSON_NODE_HOLDS_ARRAY(q) ? json_node_get_array(q) : NULL;

        for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
            JsonNode *n = json_array_get_element(a, i);
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
            const char *node = o != NULL ? json_object_get_string_member_with_default(
                                               o, "node-name", "")
                                         : "";
            JsonObject *args;
            g_autoptr(JsonNode) r = NULL;

            if (!g_str_has_prefix(node, "migration-") ||
                !g_str_has_suffix(node, layer == 0 ? "-format" : "-storage"))
                continue;
            args = json_object_new();
            json_object_set_string_member(args, "node-name", node);
            r = vb_qemu_monitor_command(mon, "blockdev-del", args, RECOVER_TIMEOUT_MS, NULL);
        }
    }
}

/* The status of a peer-to-peer source whose destination had answered Finish (phase
 * "confirm"): the guest runs there; this copy's end is a migration's. */
static gboolean
finish_answered(const VbDomainStatusFile *s)
{
    return g_strcmp0(s->async_job, vb_async_job_type_to_string(VB_ASYNC_JOB_MIGRATION_OUT)) ==
               0 &&
           g_strcmp0(s->async_phase, "confirm") == 0;
}

/* A source kept paused because its guest may run on the destination: its
 * state says so ("paused"/"migration"), whatever QEMU's status suggested at
 * the reattach (the kill -9 sweep saw "paused"/"unknown"). */
static void
keep_paused_for_migration(VbDomainObj *dom)
{
    g_mutex_lock(&dom->lock);
    if (dom->state == VB_DOMAIN_STATE_PAUSED) {
        dom->pause_reason = VB_DOMAIN_REASON_MIGRATION;
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_MIGRATION);
    }
    g_mutex_unlock(&dom->lock);
}

/*
 * The commits of an external snapshot's Delete go (SNAPSHOT_DELETE_JOBS). A live snapshot
 * (issue 15, domain-snapshot-live.c) that the end of the service
 * interrupted left the guest paused with reason "snapshot", which is set only when it ran:
 * it runs again, and QEMU's snapshot job (finished by now: QEMU answers nothing while it
 * saves) is dismissed. The snapshot has no metadata (an internal snapshot of that name
 * may stay in the images).
 */
static void
recover_live_snapshot(VbDomainObj *dom)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) c = NULL;
    g_autoptr(JsonNode) d = NULL;
    g_autofree char *name = vb_domain_obj_get_name(dom);
    JsonObject *args;

    gboolean paused;

    g_mutex_lock(&dom->lock);
    paused = dom->state == VB_DOMAIN_STATE_PAUSED && dom->reason == VB_DOMAIN_REASON_SNAPSHOT;
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        return;
    recover_block_jobs(mon, name, SNAPSHOT_DELETE_JOBS, TRUE);
    if (!paused)
        return;
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name, "a snapshot was interrupted by the restart; "
                  "the guest runs again (the snapshot has no metadata)");
    args = json_object_new();
    json_object_set_string_member(args, "id", "virtbus-snapshot");
    d = vb_qemu_monitor_command(mon, "job-dismiss", args, RECOVER_TIMEOUT_MS, NULL);
    c = recover_cmd(mon, "cont", name);
    if (c == NULL)
        return;
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNPAUSED);
    dom->resumed_at = g_get_real_time();
    g_mutex_unlock(&dom->lock);
}

/* issue 15, extmem: a snapshot killed while QEMU wrote its memory file. */
static void
recover_snapshot_memory(VbDomainObj *dom, const char *temp_file)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *name = vb_domain_obj_get_name(dom);

    g_mutex_lock(&dom->lock);
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon != NULL) {
        g_autoptr(JsonNode) c = recover_cmd(mon, "migrate_cancel", name);

        g_free(recover_wait_idle(mon, "query-migrate", name));
    }
    if (g_unlink(temp_file) == 0)
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name, "removed the partial memory file %s of "
                      "the interrupted snapshot", temp_file);
}

/*
 * An incoming migration interrupted by the end of the service: its QEMU is killed (FALSE),
 * unless its vCPUs already run, which only MigrateFinish's `cont` (or a post-copy
 * switch-over) makes them do. Then the guest runs here and is kept, as libvirt's recovery
 * of phase Finish keeps a domain whose CPUs run: killing it would lose the guest when the
 * source took Finish's answer (the kill -9 sweep found the domain gone from both hosts).
 * A source that got no answer keeps its copy paused (migration-p2p.c), never resumed
 * beside this one.
 */
static gboolean
keep_resumed_incoming(VbDomainObj *dom, const VbDomainStatusFile *s, const char *name)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *o;

    /* a restore (phases starting, loading, resuming) is loaded again from its image */
    if (g_strcmp0(s->async_phase, "prepare") != 0 && g_strcmp0(s->async_phase, "finish") != 0)
        return FALSE;
    g_mutex_lock(&dom->lock);
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    r = mon != NULL ? recover_cmd(mon, "query-status", name) : NULL;
    o = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
    if (o == NULL || !json_object_get_boolean_member_with_default(o, "running", FALSE))
        return FALSE;
    VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "its incoming migration had resumed the guest "
                  "when the service stopped: the guest runs here now (a source that did not "
                  "learn it keeps its copy paused: destroy it there)");
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_MIGRATED);
    dom->resumed_at = g_get_real_time();
    /* the guest is this host's now: the client's departure no longer destroys it */
    g_clear_pointer(&dom->autodestroy_owner, g_free);
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/*
 * The async job the status XML records, after a restart of the service:
 * a save is cancelled and the guest resumed if it ran; a dump (which
 * cannot be cancelled) is waited for and its file dropped; an incoming
 * restore or migration is killed, unless the migration had resumed the guest
 * (keep_resumed_incoming()) (returns FALSE with no error: the caller
 * tears the domain down); an outgoing migration is cancelled and the guest
 * resumed if it ran, unless its transfer had completed (then it stays
 * paused: it may run on the destination). (A source whose destination had
 * answered Finish is not taken back: reconnect_one().) No job stays set.
 */
static gboolean
recover_async_job(VbDomainList *list, VbDomainObj *dom, const VbDomainStatusFile *s)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *name = vb_domain_obj_get_name(dom);
    int type = vb_async_job_type_from_string(s->async_job);

    if (s->async_job == NULL || type <= VB_ASYNC_JOB_NONE)
        return TRUE;
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name,
                  "recovering its %s job interrupted in phase %s by the restart",
                  s->async_job, s->async_phase != NULL ? s->async_phase : "?");
    if (type == VB_ASYNC_JOB_MIGRATION_IN)
        return keep_resumed_incoming(dom, s, name);
    /* a live snapshot or revert: recover_live_snapshot() lets the guest run again; an
     * external one with memory (issue 15, extmem) writing its memory file: the migration
     * cancelled, the partial file removed */
    if (type == VB_ASYNC_JOB_SNAPSHOT && s->temp_file != NULL)
        recover_snapshot_memory(dom, s->temp_file);
    if (type == VB_ASYNC_JOB_SNAPSHOT)
        return TRUE;
    if (type == VB_ASYNC_JOB_MIGRATION_OUT &&
        (g_strcmp0(s->async_phase, "perform3_done") == 0 ||
         g_strcmp0(s->async_phase, "finish") == 0 ||
         g_strcmp0(s->async_phase, "postcopy") == 0)) {
        /* the transfer completed: the guest may run on the destination */
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name,
                      "its outgoing migration had completed its transfer when the service "
                      "stopped; the guest stays paused (it may run on the destination: "
                      "resume or destroy it here)");
        keep_paused_for_migration(dom);
        return TRUE;
    }
    g_mutex_lock(&dom->lock);
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        return TRUE;
    if (type == VB_ASYNC_JOB_BLOCK) {
        /* issue 15, part bjrestart: a recorded block job is taken back at the end of the
         * reconnection (adopt_block_job()); one without a record is cancelled: the images
         * stay consistent, the chain as it was */
        if (s->blockjob_xml == NULL)
            recover_block_jobs(mon, name, COPY_JOBS, FALSE);
        return TRUE;
    }
    if (type == VB_ASYNC_JOB_DUMP) {
        g_free(recover_wait_idle(mon, "query-dump", name));
    } else {
        g_autoptr(JsonNode) c = recover_cmd(mon, "migrate_cancel", name);
        g_autofree char *st = recover_wait_idle(mon, "query-migrate", name);

        if (type == VB_ASYNC_JOB_MIGRATION_OUT)
            recover_block_jobs(mon, name, COPY_JOBS, FALSE);
        /* QEMU went on while the service was down (a SIGKILL in phase
         * perform3): a transfer that completed, or reached post-copy, is
         * not undone by the cancel, and the guest may run on the destination */
        if (type == VB_ASYNC_JOB_MIGRATION_OUT &&
            (g_str_equal(st, "completed") || g_str_has_prefix(st, "postcopy"))) {
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name,
                          "its outgoing migration reached '%s' while the service was down; "
                          "the guest stays paused (it may run on the destination: resume or "
                          "destroy it here)", st);
            keep_paused_for_migration(dom);
            if (s->temp_file != NULL)
                g_unlink(s->temp_file);
            return TRUE;
        }
    }
    if (s->temp_file != NULL)
        g_unlink(s->temp_file);
    if (s->was_running) {
        g_autoptr(JsonNode) c = recover_cmd(mon, "cont", name);

        if (c != NULL) {
            g_mutex_lock(&dom->lock);
            vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNPAUSED);
            dom->resumed_at = g_get_real_time();
            g_mutex_unlock(&dom->lock);
        }
    }
    return TRUE;
}

/*
 * issue 15, part bjrestart: the block job the status recorded goes on under a new Job
 * (domain-blockrestart.c); a record that cannot be used cancels QEMU's job, as before.
 */
static void
adopt_block_job(VbDomainList *list, VbDomainObj *dom, const VbDomainStatusFile *s)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *name = NULL;

    if (s->blockjob_xml == NULL ||
        vb_async_job_type_from_string(s->async_job) != VB_ASYNC_JOB_BLOCK ||
        vb_domain_block_job_adopt(list, dom, s->blockjob_xml, &error))
        return;
    name = vb_domain_obj_get_name(dom);
    VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "its block job cannot be taken back (%s); "
                  "QEMU's job is cancelled", error->message);
    g_mutex_lock(&dom->lock);
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon != NULL)
        recover_block_jobs(mon, name, COPY_JOBS, FALSE);
}

/*
 * A run that is not taken back: its files go, and its domain (a persistent
 * one; a transient one was never added) is shut off with @reason. Clears @s.
 */
static void
forget_run(VbDomainList *list, VbDomainStatusFile *s, const char *name, const char *uuid,
           VbDomainReason reason)
{
    g_autoptr(VbDomainObj) dom = NULL;

    /* swtpm, virtiofsd of that run (recorded or not): nothing may outlive it */
    vb_domain_helpers_kill_leftovers(s->runtime_dir, name);
    /* its macvtaps, Open vSwitch ports (its taps went with its QEMU) */
    for (guint i = s->nets != NULL ? s->nets->len : 0; i > 0; i--)
        vb_qemu_net_release(g_ptr_array_index(s->nets, i - 1));
    remove_leftovers(list, s, name);
    dom = vb_domain_list_find_by_uuid(list, uuid, NULL);
    if (dom != NULL) {
        g_mutex_lock(&dom->lock);
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_SHUTOFF, reason);
        g_mutex_unlock(&dom->lock);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "stopped",
                              vb_domain_reason_to_string(reason));
    }
    vb_domain_status_file_clear(s);
}

/*
 * A status file that does not parse (damaged outside the service: every write is atomic) is
 * kept aside as NAME.xml.unreadable for a person to look at, and the QEMU it describes is
 * killed: without its live definition the service cannot run it, and it must not be left
 * behind as an orphan. The domain is shut off (a persistent one stays defined).
 */
static void
set_aside_unreadable(VbDomainList *list, const VbStoreEntry *e, const GError *error)
{
    g_autofree char *base = g_path_get_basename(e->path);
    g_autofree char *name = g_strndup(base, strlen(base) - strlen(".xml"));
    g_autofree char *aside = g_strconcat(e->path, ".unreadable", NULL);
    g_autoptr(VbDomainObj) dom = vb_domain_list_find_by_name(list, name, NULL);
    g_autofree char *pidbase = g_strconcat(name, ".pid", NULL);
    g_autofree char *pidfile = g_build_filename(list->paths->run_dir, pidbase, NULL);
    pid_t pid = find_qemu_of(list, name, dom != NULL ? dom->uuid_str : NULL);

    g_warning("the status file '%s' of domain '%s' cannot be read (%s): kept as '%s'; %s",
              e->path, name, error->message, aside,
              pid > 0 ? "killing the QEMU it describes" : "no QEMU of it is running");
    if (g_rename(e->path, aside) < 0) {
        g_warning("cannot rename '%s': %s; removing it", e->path, g_strerror(errno));
        g_unlink(e->path);
    }
    if (pid > 0)
        kill_and_wait(pid, name);
    g_unlink(pidfile);
    if (dom != NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "its status file could not be read at the service's start (kept as "
                      "%s): %s; the domain is shut off", aside, error->message);
}

static gboolean
reconnect_one(VbDomainList *list, const VbStoreEntry *e)
{
    VbDomainStatusFile s = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) live = NULL;
    g_autoptr(VbQemuCaps) caps = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    char uuid[37];
    gboolean is_new = FALSE, ok = FALSE;

    if (!vb_domain_status_parse(e->contents, &s, &error) ||
        (live = vb_domain_def_parse_string(s.def_xml, 0, &error)) == NULL ||
        (s.caps_xml != NULL && (caps = vb_qemu_caps_from_xml(s.caps_xml, &error)) == NULL)) {
        set_aside_unreadable(list, e, error);
        vb_domain_status_file_clear(&s);
        return FALSE;
    }
    vb_uuid_format(live->uuid, uuid);
    if (s.starting) {
        /* as libvirt does: a QEMU whose start never finished is killed, not
         * taken back; the domain is shut off (a transient one is gone) */
        pid_t pid = find_unfinished_qemu(&s, uuid);

        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, live->name,
                      "its start was interrupted by the service's end; %s",
                      pid > 0 ? "killing the QEMU it left" : "no QEMU was left");
        if (pid > 0)
            kill_and_wait(pid, live->name);
        vb_domain_cgroup_forget(s.cgroup_mode, status_dirs(&s)); /* issue 14, part cgroup */
        forget_run(list, &s, live->name, uuid, VB_DOMAIN_REASON_FAILED);
        return FALSE;
    }
    if (finish_answered(&s)) {
        /* a peer-to-peer source killed after its destination answered Finish: the
         * guest runs there, never here again; what Confirm does (the kill -9 sweep
         * found such a source kept paused beside its running copy) */
        gboolean alive = same_qemu(s.pid, caps != NULL ? caps->binary : NULL, uuid);

        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, live->name,
                      "the destination had taken over the guest (Finish answered) when the "
                      "service stopped; %s, the domain ends as 'migrated'",
                      alive ? "killing the QEMU left here" : "its QEMU here ended");
        if (alive)
            kill_and_wait(s.pid, live->name);
        vb_domain_cgroup_forget(s.cgroup_mode, status_dirs(&s)); /* issue 14, part cgroup */
        forget_run(list, &s, live->name, uuid, VB_DOMAIN_REASON_MIGRATED);
        return FALSE;
    }
    if (!same_qemu(s.pid, caps != NULL ? caps->binary : NULL, uuid)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, live->name,
                      "its QEMU (pid %d) ended while the service was down", (int)s.pid);
        vb_domain_cgroup_forget(s.cgroup_mode, status_dirs(&s)); /* issue 14, part cgroup */
        forget_run(list, &s, live->name, uuid, VB_DOMAIN_REASON_CRASHED);
        return FALSE;
    }

    dom = domain_for(list, live, uuid, &is_new);
    if (dom == NULL) {
        /* never a crash: the QEMU is left running, recorded in its status file */
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, live->name,
                      "cannot copy its definition: its QEMU (pid %d) is not taken back",
                      (int)s.pid);
        vb_domain_status_file_clear(&s);
        return FALSE;
    }
    if (is_new)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_ADDED, NULL, NULL);
    adopt_runtime(list, dom, &s, g_steal_pointer(&live), g_steal_pointer(&caps));
    for (guint i = 0; s.nets != NULL && i < s.nets->len; i++) {
        const VbQemuNetPrep *p = g_ptr_array_index(s.nets, i);

        vb_domain_net_adopt(dom, p->alias, p->type, p->kind, p->ifname, p->managed, p->bridge,
                            p->ovs, p->lower, p->lower_mac);
    }
    for (guint i = 0; s.helpers != NULL && i + 3 < s.helpers->len; i += 4) {
        const char *pid = g_ptr_array_index(s.helpers, i + 2);
        g_autofree char *rdir = NULL;

        g_mutex_lock(&dom->lock);
        rdir = g_strdup(dom->runtime_dir);
        g_mutex_unlock(&dom->lock);
        vb_domain_helpers_adopt(dom, g_ptr_array_index(s.helpers, i),
                                g_ptr_array_index(s.helpers, i + 1),
                                pid != NULL ? (pid_t)atoi(pid) : 0,
                                g_ptr_array_index(s.helpers, i + 3), rdir);
    }
    /* issue 14, part cgroup: before the reattach, so a teardown also removes the cgroup */
    if (s.cgroup_mode != NULL)
        vb_domain_cgroup_adopt(dom, s.cgroup_mode, s.cgroup_unit, status_dirs(&s));
    g_mutex_lock(&dom->lock);
    dom->private_dev = s.private_dev; /* issue 14, part devns */
    g_mutex_unlock(&dom->lock);
    if (vb_domain_process_reattach(list, dom, s.pid, s.monitor_path, &error) &&
        recover_async_job(list, dom, &s)) {
        g_autofree char *name = vb_domain_obj_get_name(dom);

        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name, "reconnected to QEMU (pid %d, id %d)",
                      (int)s.pid, s.id);
        recover_live_snapshot(dom); /* issue 15 */
        {
            /* the disks' backing chains for the live XML, as QEMU runs them (issue 15) */
            g_autoptr(VbQemuMonitor) mon = NULL;
            g_autoptr(JsonNode) blocks = NULL;

            g_mutex_lock(&dom->lock);
            mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
            g_mutex_unlock(&dom->lock);
            blocks = mon != NULL ? recover_cmd(mon, "query-block", name) : NULL;
            vb_domain_chains_update(dom, blocks);
        }
        /* the agent's state, and a thaw of what an FSFreeze left frozen (issue 13) */
        g_mutex_lock(&dom->lock);
        dom->agent_frozen = s.agent_frozen;
        g_mutex_unlock(&dom->lock);
        vb_domain_agent_refresh(list, dom, NULL, VB_AGENT_REASON_UNKNOWN);
        /* issue 13, part netupd: an attach the service's end interrupted */
        if (s.attach_pending != NULL)
            vb_domain_hotplug_reconnect_pending(list, dom, s.attach_pending);
        vb_domain_hotplug_reconnect(list, dom); /* issue 13, part hotplug */
        {
            /* issue 13, part vcpuio: the <perf> events again (counting from zero) */
            g_autoptr(VbDomainDef) now = NULL;

            g_mutex_lock(&dom->lock);
            now = vb_domain_def_copy(dom->def);
            g_mutex_unlock(&dom->lock);
            if (now != NULL)
                vb_domain_perf_start(dom, now, s.pid, FALSE, NULL);
        }
        if (s.agent_frozen)
            vb_domain_agent_thaw_if_frozen(list, dom);
        adopt_block_job(list, dom, &s); /* issue 15, part bjrestart: takes the async job */
        vb_domain_status_save(list, dom, NULL);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
        ok = TRUE;
    } else if (error == NULL) {
        /* an interrupted restore: the half-loaded QEMU is of no use */
        vb_domain_teardown(list, dom, VB_DOMAIN_REASON_FAILED);
    } else {
        /* alive but unreachable: it cannot be managed; stop it */
        g_warning("domain %s: cannot reconnect to QEMU (pid %d): %s; killing it", uuid,
                  (int)s.pid, error->message);
        vb_domain_teardown(list, dom, VB_DOMAIN_REASON_CRASHED);
    }
    /* a run torn down: the partial image of its interrupted save or dump goes too */
    if (!ok && s.temp_file != NULL)
        g_unlink(s.temp_file);
    vb_domain_status_file_clear(&s);
    return ok;
}

/**
 * vb_domain_list_reconnect:
 *
 * Takes back the domains that were running when the service last
 * stopped. Call once after vb_domain_list_load_configs(), before the bus
 * name is owned.
 *
 * Returns: how many domains were reconnected.
 */
guint
vb_domain_list_reconnect(VbDomainList *list)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) entries = vb_store_read_dir(list->paths->run_dir, ".xml", &error);
    guint n = 0;

    if (entries == NULL) {
        g_warning("cannot read running domains: %s", error->message);
        return 0;
    }
    for (guint i = 0; i < entries->len; i++)
        n += reconnect_one(list, entries->pdata[i]) ? 1 : 0;
    vb_snapshot_journal_recover(list); /* issue 15, part svckill */
    /* issue 14, part dac: the files of runs that ended meanwhile get their owners back */
    vb_domain_dac_reconcile(list);
    return n;
}
