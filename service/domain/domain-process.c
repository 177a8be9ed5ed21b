/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "domain-agent.h"
#include "domain-chain.h"
#include "domain-hotplug-priv.h"
#include "domain-cgroup.h"
#include "domain-def-guest.h" /* VB_AGENT_CHANNEL_NAME */
#include "domain-def-priv.h"  /* issue 16: the devices, for needs_chardev_query() */
#include "domain-list-priv.h"
#include "domain-memev.h"
#include "domain-vcpuio.h" /* issue 13, part vcpuio */
#include "qemu-command.h"
#include "qemu-devns.h"
#include "qemu-helpers.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Starting and stopping QEMU for a domain (DESIGN.md, Processes). Every
 * function here runs on a worker thread with the domain's job held,
 * unless it says otherwise.
 */

#define MONITOR_TIMEOUT_MS 30000
#define TERM_TIMEOUT_MS 10000

static gint run_counter; /* atomic */

/* What the monitor and process callbacks of one run know. */
typedef struct {
    gint refcount;
    VbDomainList *list;
    VbDomainObj *dom;
    guint64 run;
} RunCtx;

static RunCtx *
run_ctx_ref(RunCtx *ctx)
{
    g_atomic_int_inc(&ctx->refcount);
    return ctx;
}

static void
run_ctx_unref(RunCtx *ctx)
{
    if (ctx == NULL || !g_atomic_int_dec_and_test(&ctx->refcount))
        return;
    vb_domain_obj_unref(ctx->dom);
    g_free(ctx);
}

static void
queue_event(RunCtx *ctx, const char *name, JsonObject *data, gint64 timestamp)
{
    VbDomainEvent *ev = g_new0(VbDomainEvent, 1);

    ev->name = g_strdup(name);
    ev->data = data != NULL ? json_object_ref(data) : NULL;
    ev->timestamp = timestamp;
    ev->run = ctx->run;
    vb_domain_events_queue(ctx->list, ctx->dom, ev);
}

/* Monitor thread. */
static void
on_monitor_event(VbQemuMonitor *mon, const char *event, JsonObject *data, gint64 seconds,
                 gint64 micros, gpointer user_data)
{
    queue_event(user_data, event, data, seconds * G_USEC_PER_SEC + micros);
}

/* Monitor thread: EOF or error; the process is gone or going. */
static void
on_monitor_eof(VbQemuMonitor *mon, const GError *error, gpointer user_data)
{
    if (error != NULL)
        g_debug("monitor of run %" G_GUINT64_FORMAT " ended: %s",
                ((RunCtx *)user_data)->run, error->message);
    queue_event(user_data, NULL, NULL, g_get_real_time());
}

/* Process-watch thread: QEMU was reaped. */
static void
on_process_exit(VbQemuProcess *proc, int status, gpointer user_data)
{
    RunCtx *ctx = user_data;
    g_autofree char *how = vb_qemu_process_describe_status(status);
    g_autofree char *name = vb_domain_obj_get_name(ctx->dom);

    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "QEMU (pid %d) %s", (int)vb_qemu_process_get_pid(proc),
                  how);
    queue_event(ctx, NULL, NULL, g_get_real_time());
    run_ctx_unref(ctx);
}

static char *
runtime_dir_for(VbDomainList *list, int id, const char *name)
{
    /* unix socket paths are limited to 108 bytes: keep the name short */
    g_autofree char *short_name = g_utf8_substring(name, 0, MIN(g_utf8_strlen(name, -1), 20));
    g_autofree char *base = NULL;

    g_strdelimit(short_name, "/", '_');
    base = g_strdup_printf("domain-%d-%s", id, short_name);
    return g_build_filename(list->paths->run_dir, base, NULL);
}

static int
open_log(VbDomainList *list, const char *name, GError **error)
{
    g_autofree char *file = g_strconcat(name, ".log", NULL);
    g_autofree char *path = g_build_filename(list->paths->log_dir, file, NULL);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot open log '%s': %s", path,
                    g_strerror(errno));
        return -1;
    }
    return fd;
}

static void
log_line(int fd, const char *text)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%d %H:%M:%S.%f");
    g_autofree char *line = g_strdup_printf("%.23s+0000: %s\n", stamp, text);

    if (fd >= 0 && write(fd, line, strlen(line)) < 0)
        g_debug("cannot write to the domain log: %s", g_strerror(errno));
}

/**
 * vb_domain_log_append:
 * @name: the domain's name
 * @text: one line, without newline
 *
 * Appends a timestamped line to the domain's log (what QEMU writes goes
 * there too). Failures are only logged. Worker threads.
 */
void
vb_domain_log_append(VbDomainList *list, const char *name, const char *text)
{
    int fd = open_log(list, name, NULL);

    log_line(fd, text);
    if (fd >= 0)
        close(fd);
}

/* Returns: (transfer full): what QEMU wrote to the log since @offset, trimmed. */
static char *
read_log_since(VbDomainList *list, const char *name, goffset offset)
{
    g_autofree char *file = g_strconcat(name, ".log", NULL);
    g_autofree char *path = g_build_filename(list->paths->log_dir, file, NULL);
    g_autofree char *contents = NULL;
    gsize len = 0;
    GString *out = g_string_new(NULL);
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &contents, &len, NULL) || (gsize)offset >= len)
        return g_string_free(out, FALSE);
    lines = g_strsplit(contents + offset, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_strstrip(lines[i]);
        /* the service's own lines ("2026-11-29 20:12:45.123+0000: ...", see log_line()) */
        if (lines[i][0] == '\0' || g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\d "
                                                        "\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\+0000: ",
                                                        lines[i], 0, 0))
            continue;
        /* QEMU's notes on ptys are not what went wrong */
        if (strstr(lines[i], "char device redirected to ") != NULL)
            continue;
        if (out->len > 0)
            g_string_append(out, "; ");
        g_string_append(out, lines[i]);
    }
    return g_string_free(out, FALSE);
}

/* Removes what a run left in the runtime directory. */
static void
remove_runtime_files(const char *runtime_dir, const char *monitor_path, const char *pidfile)
{
    if (monitor_path != NULL)
        g_unlink(monitor_path);
    if (pidfile != NULL)
        g_unlink(pidfile);
    if (runtime_dir != NULL) {
        g_autoptr(GDir) d = g_dir_open(runtime_dir, 0, NULL);
        const char *entry;

        while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
            g_autofree char *p = g_build_filename(runtime_dir, entry, NULL);

            g_unlink(p);
        }
        g_rmdir(runtime_dir);
    }
}

typedef struct {
    int id;
    guint64 run;
    char *name;
    char *runtime_dir;
    char *monitor_path;
    char *pidfile;
    int log_fd;
    goffset log_offset;
    VbQemuCaps *caps;
    VbQemuProcess *proc;
    VbQemuMonitor *mon;
    RunCtx *ctx;
    guint taint;
    int display_port;
    int websocket_port;
    GPtrArray *ignored; /* what the definition holds that is not acted on */
    GPtrArray *helpers; /* VbQemuHelper*: swtpm, virtiofsd to start before QEMU */
    VbDomainDef *def;   /* the definition QEMU runs (a copy, firmware resolved: read without
                         * the lock) */
    GHashTable *disks;     /* what the disks' images said (vb_qemu_disk_prepare) */
    GPtrArray *throttles;  /* block_set_io_throttle arguments to send before cont */
    const char *loadvm;    /* issue 15: the internal snapshot QEMU loads (-loadvm), or NULL */
    int monitor_target;    /* issue 16: QEMU's number of the listening QMP socket */
    int listen_fd;         /* the service's copy of it, until QEMU runs */
    int mon_fd;            /* our end, connected before QEMU exists (no polling) */
    gint64 marks[8];       /* issue 16: monotonic time of each step (StartMark), for the log */
} StartState;

/* The steps of a start whose end time is kept (the debug line "start steps"). */
typedef enum {
    MARK_BEGIN,
    MARK_PREPARED, /* definition copied, capabilities, command line */
    MARK_READY,    /* status written (starting), runtime directory, QMP socket listening */
    MARK_LAUNCHED, /* the launcher ran and QEMU was exec'd */
    MARK_QMP,      /* greeting, qmp_capabilities and query-cpus-fast */
    MARK_QUERIED,  /* threads, ptys, passwords, throttles, ... */
    MARK_CONT,     /* cont answered */
    MARK_DONE,     /* status written (running) */
} StartMark;

static void
mark(StartState *st, StartMark m)
{
    st->marks[m] = g_get_monotonic_time();
}

static void
start_state_clear(StartState *st)
{
    g_free(st->name);
    g_free(st->runtime_dir);
    g_free(st->monitor_path);
    g_free(st->pidfile);
    if (st->log_fd >= 0)
        close(st->log_fd);
    if (st->listen_fd >= 0)
        close(st->listen_fd);
    if (st->mon_fd >= 0)
        close(st->mon_fd);
    g_clear_pointer(&st->caps, vb_qemu_caps_unref);
    g_clear_pointer(&st->proc, vb_qemu_process_unref);
    g_clear_pointer(&st->mon, vb_qemu_monitor_unref);
    g_clear_pointer(&st->ctx, run_ctx_unref);
    g_clear_pointer(&st->ignored, g_ptr_array_unref);
    g_clear_pointer(&st->helpers, g_ptr_array_unref);
    g_clear_pointer(&st->def, vb_domain_def_free);
    g_clear_pointer(&st->disks, g_hash_table_unref);
    g_clear_pointer(&st->throttles, g_ptr_array_unref);
}

/* Undoes a failed start: nothing is left behind (process, socket, files). */
static void
start_rollback(VbDomainList *list, VbDomainObj *dom, StartState *st)
{
    RunCtx *mon_ctx;
    gboolean transient;

    if (st->mon != NULL)
        vb_qemu_monitor_close(st->mon);
    g_mutex_lock(&dom->lock);
    mon_ctx = g_steal_pointer(&dom->mon_ctx);
    g_mutex_unlock(&dom->lock);
    run_ctx_unref(mon_ctx); /* no callback runs after close */
    if (st->proc != NULL) {
        vb_qemu_process_signal(st->proc, SIGKILL);
        vb_qemu_process_wait(st->proc, 10000);
    }
    vb_domain_helpers_stop(dom); /* before the cgroup they are in goes */
    vb_domain_cgroup_remove(dom); /* issue 14, part cgroup */
    vb_domain_net_release(dom);
    vb_domain_dac_release(list, dom); /* issue 14, part dac */
    remove_runtime_files(st->runtime_dir, st->monitor_path, st->pidfile);
    vb_domain_ports_release(list, st->display_port);
    vb_domain_ports_release(list, st->websocket_port);
    g_mutex_lock(&dom->lock);
    dom->display_port = -1;
    dom->websocket_port = -1;
    g_clear_pointer(&dom->proc, vb_qemu_process_unref);
    g_clear_pointer(&dom->mon, vb_qemu_monitor_unref);
    g_clear_pointer(&dom->caps, vb_qemu_caps_unref);
    g_clear_pointer(&dom->autodestroy_owner, g_free);
    g_clear_pointer(&dom->vcpu_tids, g_array_unref);
    g_clear_pointer(&dom->iothread_tids, g_array_unref);
    g_clear_pointer(&dom->perf, g_hash_table_unref); /* issue 13, part vcpuio */
    dom->id = -1;
    dom->run = 0; /* events of the failed run are stale */
    dom->starting = FALSE;
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_SHUTOFF, VB_DOMAIN_REASON_FAILED);
    /* a DefineXML during the start applies now */
    if (dom->new_def != NULL) {
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&dom->new_def);
    }
    vb_domain_def_clear_runtime(dom->def);
    /* an Undefine during the start left it transient: it goes */
    transient = !dom->persistent;
    g_mutex_unlock(&dom->lock);
    vb_domain_status_remove(list, dom);
    log_line(st->log_fd, "start failed; cleaned up");
    if (transient) {
        vb_domain_list_remove(list, dom);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_REMOVED, "stopped", "failed");
    } else {
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "stopped", "failed");
    }
}

static gboolean
start_prepare(VbDomainList *list, VbDomainObj *dom, StartState *st, gboolean incoming,
              char ***out_argv, GError **error)
{
    g_autoptr(VbDomainDef) def = NULL;
    g_autofree char *binary = NULL;
    const char *emulator;
    VbQemuCommandParams params = { 0 };
    g_autoptr(GPtrArray) hugetlbfs = vb_hugetlbfs_find();

    g_mutex_lock(&dom->lock);
    def = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (def == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the domain definition to start it");
        return FALSE;
    }

    emulator = vb_domain_def_get_emulator(def);
    binary = emulator != NULL ? g_strdup(emulator)
                              : vb_qemu_caps_default_binary(vb_domain_def_get_arch(def));
    if (binary == NULL && vb_domain_def_get_arch(def) == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "the domain names neither <emulator> nor <os><type arch=>; set "
                            "one of them");
        return FALSE;
    }
    if (binary == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "no QEMU binary found for architecture '%s'; install qemu-system or set "
                    "<emulator>", vb_domain_def_get_arch(def));
        return FALSE;
    }
    st->caps = vb_qemu_caps_get(binary, list->paths->caps_dir, error);
    if (st->caps == NULL)
        return FALSE;
    st->id = g_atomic_int_add(&list->next_id, 1) + 1;
    st->run = (guint64)g_atomic_int_add(&run_counter, 1) + 1;
    st->name = g_strdup(def->name);
    st->runtime_dir = runtime_dir_for(list, st->id, def->name);
    st->monitor_path = g_build_filename(st->runtime_dir, "monitor.sock", NULL);
    if (list->qemu_ids.set_ids) {
        /* issue 14, part dac: QEMU's user writes it, in the directory it owns */
        st->pidfile = g_build_filename(st->runtime_dir, "qemu.pid", NULL);
    } else {
        g_autofree char *pidbase = g_strconcat(def->name, ".pid", NULL);

        st->pidfile = g_build_filename(list->paths->run_dir, pidbase, NULL);
    }
    params.id = st->id;
    params.monitor_path = st->monitor_path;
    params.pidfile = st->pidfile;
    params.runtime_dir = st->runtime_dir;
    params.vnc_port = -1;
    params.incoming = incoming;
    params.loadvm = st->loadvm;
    params.hugetlbfs = hugetlbfs;
    params.no_sandbox = list->config->seccomp_sandbox == 0;
    /* the images are read here, before anything exists: a broken chain leaves nothing */
    if (!vb_qemu_disk_prepare(def, &st->disks, error))
        return FALSE;
    params.disks = st->disks;
    st->throttles = vb_qemu_command_disk_throttles(def, st->disks);
    if (vb_domain_def_needs_autoport(def)) {
        st->display_port = vb_domain_ports_acquire(list, list->config->vnc_port_min,
                                                   list->config->vnc_port_max, error);
        if (st->display_port < 0)
            return FALSE;
        params.vnc_port = st->display_port;
    }
    if (!vb_domain_start_live_defaults(list, dom, &def, st->caps,
                                       !incoming && st->loadvm == NULL, error))
        return FALSE;
    if (vb_domain_def_needs_websocket_port(def)) {
        /* libvirt's default websocket range, 5700-65535 */
        st->websocket_port = vb_domain_ports_acquire(list, 5700, 65535, error);
        if (st->websocket_port < 0)
            return FALSE;
        params.websocket_port = st->websocket_port;
    }
    /* the interfaces' host side (taps, macvtaps, bandwidth, vhost-net): recorded in dom->nets
     * for the rollback; the command line names the fds QEMU gets */
    if (!vb_domain_net_prepare(list, dom, def, error))
        return FALSE;
    params.nets = dom->nets; /* only this job changes it */
    {
        /* issue 16: the QMP socket is QEMU's next fd after the interfaces' */
        g_autoptr(GArray) src = g_array_new(FALSE, FALSE, sizeof(int));
        g_autoptr(GArray) dst = g_array_new(FALSE, FALSE, sizeof(int));

        vb_domain_net_fds(dom, src, dst);
        st->monitor_target = 3;
        for (guint i = 0; i < dst->len; i++)
            st->monitor_target = MAX(st->monitor_target, g_array_index(dst, int, i) + 1);
        params.monitor_fd = st->monitor_target;
    }
    *out_argv = vb_qemu_command_build_full(def, st->caps, &params, &st->taint, &st->ignored,
                                           error);
    if (*out_argv == NULL)
        return FALSE;
    {
        VbQemuHelperParams hp = { .runtime_dir = st->runtime_dir,
                                  .swtpm_dir = list->paths->swtpm_dir,
                                  .log_dir = list->paths->log_dir };

        st->helpers = vb_qemu_helpers_plan(def, &hp, error);
        if (st->helpers == NULL)
            return FALSE;
    }
    st->def = g_steal_pointer(&def);
    mark(st, MARK_PREPARED);
    return TRUE;
}

typedef struct {
    VbDomainList *list;
    VbDomainObj *dom;
    StartState *st;
} SpawnHookData;

/* The launcher's hook (issue 14): between its "ready" and its exec, QEMU's pid joins the
 * domain's cgroup or scope (part cgroup), then the helpers (swtpm, virtiofsd, passt) start,
 * through the launcher too, into that cgroup; they are recorded in the status before they
 * are waited for, and QEMU runs once their sockets exist. */
static gboolean
spawn_hook(pid_t pid, gpointer data, GError **error)
{
    SpawnHookData *d = data;

    if (!vb_domain_cgroup_attach(d->dom, pid, error) ||
        !vb_domain_helpers_start(d->list, d->dom, d->st->helpers, d->st->runtime_dir,
                                 d->st->log_fd, error))
        return FALSE;
    /* issue 14, part dac: the sockets of helpers running as the service (virtiofsd) */
    vb_qemu_dac_give_sockets(&d->list->qemu_ids, d->st->runtime_dir);
    return TRUE;
}

/*
 * Issue 16: the service binds and listens on the QMP socket itself and connects to it at once
 * (the connection waits in the backlog); QEMU gets the listening socket ("-chardev
 * socket,fd=N,server=on") and accepts it when it is ready, so the greeting arrives without a
 * connect loop polling for the socket to appear. A restarted service connects by path, as to
 * a socket QEMU made.
 */
static gboolean
monitor_listen(StartState *st, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int err;

    if (strlen(st->monitor_path) >= sizeof(addr.sun_path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "monitor path too long: %s",
                    st->monitor_path);
        return FALSE;
    }
    strcpy(addr.sun_path, st->monitor_path);
    g_unlink(st->monitor_path); /* a socket a killed run left (QEMU did the same) */
    st->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (st->listen_fd < 0)
        goto fail;
    if (bind(st->listen_fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(st->listen_fd, 8) < 0)
        goto fail;
    st->mon_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (st->mon_fd < 0 ||
        connect(st->mon_fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0)
        goto fail;
    return TRUE;

fail:
    err = errno;
    g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot make the monitor socket %s: %s",
                st->monitor_path, g_strerror(err));
    return FALSE;
}

static gboolean
start_spawn(VbDomainList *list, VbDomainObj *dom, StartState *st, char **argv,
            const char *owner, guint flags, GError **error)
{
    g_autofree char *cmdline = vb_qemu_command_to_string((const char *const *)argv);

    st->log_fd = open_log(list, st->name, error);
    if (st->log_fd < 0)
        return FALSE;
    log_line(st->log_fd, "starting up");
    if (write(st->log_fd, cmdline, strlen(cmdline)) < 0 || write(st->log_fd, "\n", 1) < 0)
        g_debug("cannot write the command line to the log");
    if (st->taint & VB_TAINT_CUSTOM_ARGV)
        log_line(st->log_fd, "Domain is tainted: custom-argv");
    if (st->taint & VB_TAINT_DISK_PROBING)
        log_line(st->log_fd, "Domain is tainted: disk-probing");
    for (guint i = 0; st->ignored != NULL && i < st->ignored->len; i++) {
        g_autofree char *line = g_strconcat("not acted on: ",
                                            (char *)g_ptr_array_index(st->ignored, i), NULL);

        log_line(st->log_fd, line);
    }
    {
        /* issue 14, part cgroup: the limits this run's cgroup_mode does not apply */
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_auto(GStrv) limits = NULL;

        vb_domain_cgroup_unsupported(st->def, b);
        limits = g_strv_builder_end(b);
        for (guint i = 0; limits[i] != NULL; i++) {
            g_autofree char *line = g_strconcat("not acted on: ", limits[i], NULL);

            log_line(st->log_fd, line);
        }
    }
    /* what QEMU says on a failed start is read from here on (read_log_since()) */
    st->log_offset = lseek(st->log_fd, 0, SEEK_END);

    st->ctx = g_new0(RunCtx, 1);
    st->ctx->refcount = 1;
    st->ctx->list = list;
    st->ctx->dom = vb_domain_obj_ref(dom);
    st->ctx->run = st->run;

    /* The start is on disk before QEMU exists: a service killed from here
     * on finds the status XML (marked "starting") at its next start and
     * kills whatever QEMU this start left, instead of losing track of it. */
    g_mutex_lock(&dom->lock);
    dom->caps = vb_qemu_caps_ref(st->caps);
    g_free(dom->runtime_dir);
    dom->runtime_dir = g_strdup(st->runtime_dir);
    g_free(dom->monitor_path);
    dom->monitor_path = g_strdup(st->monitor_path);
    g_free(dom->pidfile);
    dom->pidfile = g_strdup(st->pidfile);
    dom->id = st->id;
    dom->run = st->run;
    dom->taint = st->taint;
    dom->display_port = st->display_port;
    /* the persistent definition stays clean of what this run adds to the live one (ports,
     * ptys, aliases, id): it is the definition again when the domain stops */
    if (dom->persistent && dom->new_def == NULL)
        dom->new_def = vb_domain_def_copy(dom->def);
    vb_domain_def_set_live(dom->def, st->id);
    for (guint i = 0; dom->nets != NULL && i < dom->nets->len; i++) {
        const VbQemuNetPrep *p = g_ptr_array_index(dom->nets, i);

        vb_domain_def_set_interface_live(dom->def, i, p->ifname,
                                         g_strcmp0(p->type, "network") == 0 ? p->bridge
                                                                             : NULL);
    }
    dom->websocket_port = st->websocket_port;
    if (st->display_port > 0)
        vb_domain_def_set_autoport(dom->def, st->display_port);
    dom->got_shutdown = FALSE;
    dom->fake_reboot = FALSE;
    dom->destroying = FALSE;
    dom->stopping = FALSE;
    dom->agent_connected = dom->agent_frozen = FALSE; /* issue 13, part agent */
    dom->pause_reason = VB_DOMAIN_REASON_UNKNOWN;
    g_free(dom->autodestroy_owner);
    dom->autodestroy_owner = (flags & VB_START_AUTODESTROY) ? g_strdup(owner) : NULL;
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_STARTING_UP);
    g_mutex_unlock(&dom->lock);
    if (!vb_domain_status_save(list, dom, error))
        return FALSE;
    /* only now: a kill before this leaves nothing a restart cannot find */
    if (g_mkdir_with_parents(st->runtime_dir, 0700) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create '%s': %s", st->runtime_dir,
                    g_strerror(errno));
        return FALSE;
    }

    {
        gboolean created = FALSE;

        if (!vb_qemu_firmware_prepare_nvram(st->def, (flags & VB_START_RESET_NVRAM) != 0,
                                            &created, error))
            return FALSE;
        if (created)
            log_line(st->log_fd, "NVRAM file made from its template");
    }
    /* issue 14, part dac: QEMU's files go to its user, their owners recorded first */
    if (!vb_domain_dac_prepare(list, dom, st->def, st->disks, st->runtime_dir, error))
        return FALSE;
    if (!monitor_listen(st, error))
        return FALSE;

    /* the process holds a reference on the context until its exit callback */
    run_ctx_ref(st->ctx);
    {
        g_autoptr(GArray) src = g_array_new(FALSE, FALSE, sizeof(int));
        g_autoptr(GArray) dst = g_array_new(FALSE, FALSE, sizeof(int));

        g_auto(GStrv) envp = vb_qemu_process_env(st->runtime_dir);
        g_auto(GStrv) devices = NULL;
        VbQemuLaunchSpec spec = { 0 };
        SpawnHookData hd = { list, dom, st };

        vb_domain_net_fds(dom, src, dst);
        g_array_append_val(src, st->listen_fd);
        g_array_append_val(dst, st->monitor_target);
        spec.argv = (const char *const *)argv;
        spec.envp = (const char *const *)envp;
        spec.log_fd = st->log_fd;
        spec.source_fds = (const int *)(void *)src->data;
        spec.target_fds = (const int *)(void *)dst->data;
        spec.n_fds = src->len;
        /* a private /dev with what the command line names (docs/confinement.md) */
        if (list->config->namespaces == 1) {
            devices = vb_qemu_launch_devices((const char *const *)argv);
            spec.private_dev = TRUE;
            spec.devices = (const char *const *)devices;
        }
        /* issue 14, part dac: QEMU's user and groups */
        spec.set_ids = list->qemu_ids.set_ids;
        spec.uid = list->qemu_ids.uid;
        spec.gid = list->qemu_ids.gid;
        spec.groups = list->qemu_ids.groups;
        spec.n_groups = list->qemu_ids.n_groups;
        /* the cgroup is joined, and the helpers run, before QEMU runs a single instruction */
        mark(st, MARK_READY);
        st->proc = vb_qemu_process_launch(&spec, spawn_hook, &hd, on_process_exit, st->ctx,
                                          error);
        mark(st, MARK_LAUNCHED);
    }
    /* QEMU holds the taps now: they live as long as it does */
    vb_domain_net_close_fds(dom);
    /* and the QMP socket: once QEMU is gone, our connection ends (ECONNRESET) */
    close(st->listen_fd);
    st->listen_fd = -1;
    if (st->proc == NULL) {
        run_ctx_unref(st->ctx);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    dom->proc = vb_qemu_process_ref(st->proc);
    /* issue 14, part devns: what the launcher made (it goes on without one in a container
     * that refuses the namespace), so hot-plugs know where their nodes go */
    dom->private_dev = list->config->namespaces == 1 &&
                       vb_qemu_devns_is_private(vb_qemu_process_get_pid(st->proc));
    g_mutex_unlock(&dom->lock);
    /* Issue 16: no status write here. Until the start ends the status says "starting", and
     * a restarted service finds this QEMU without its pid (the pidfile, else the process
     * whose command line names the pidfile: find_unfinished_qemu()) and kills it; the write
     * at the end of the start records the pid. */
    return TRUE;
}

/* Records the ptys QEMU gave the pty chardevs in the live definition. */
static gboolean
record_ptys(VbDomainObj *dom, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) devs = vb_qemu_monitor_command(mon, "query-chardev", NULL,
                                                       MONITOR_TIMEOUT_MS, error);
    JsonArray *arr;

    if (devs == NULL)
        return FALSE;
    if (!JSON_NODE_HOLDS_ARRAY(devs))
        return TRUE;
    arr = json_node_get_array(devs);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        const char *label, *file;

        if (o == NULL || !json_object_has_member(o, "label") ||
            !json_object_has_member(o, "filename"))
            continue;
        label = json_object_get_string_member(o, "label");
        file = json_object_get_string_member(o, "filename");
        if (label == NULL || file == NULL || !g_str_has_prefix(file, "pty:"))
            continue;
        g_mutex_lock(&dom->lock);
        vb_domain_def_set_chardev_pty(dom->def, label, file + 4);
        g_mutex_unlock(&dom->lock);
    }
    return TRUE;
}

/* Display passwords never go on the command line (ps shows it): QMP. */
static gboolean
set_passwords(VbDomainObj *dom, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(GArray) auths = NULL;

    g_mutex_lock(&dom->lock);
    auths = vb_domain_def_get_graphics_auths(dom->def);
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; i < auths->len; i++) {
        if (!vb_domain_graphics_auth_apply(mon, &g_array_index(auths, VbGraphicsAuth, i),
                                           MONITOR_TIMEOUT_MS, error))
            return FALSE;
    }
    return TRUE;
}

/* <iotune>: QEMU 7.2 takes it over QMP once the devices exist (libvirt 9.0 does the same) */
static gboolean
set_throttles(StartState *st, GError **error)
{
    for (guint i = 0; st->throttles != NULL && i < st->throttles->len; i++) {
        JsonObject *args = g_ptr_array_index(st->throttles, i);
        g_autoptr(JsonNode) r = NULL;

        r = vb_qemu_monitor_command(st->mon, "block_set_io_throttle", json_object_ref(args),
                                    MONITOR_TIMEOUT_MS, error);
        if (r == NULL) {
            g_prefix_error(error, "<iotune> of '%s': ",
                           json_object_get_string_member(args, "id"));
            return FALSE;
        }
    }
    return TRUE;
}

/* <memballoon><stats period>: the balloon polls the guest's statistics that often */
/* <link state='down'>: the NIC starts with its link down, as libvirt does it (set_link) */
static gboolean
set_link_states(VbDomainObj *dom, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(GPtrArray) down = g_ptr_array_new_with_free_func(g_free);

    g_mutex_lock(&dom->lock);
    for (guint i = 0; dom->nets != NULL && i < dom->nets->len; i++) {
        const VbQemuNetPrep *p = g_ptr_array_index(dom->nets, i);

        if (p->link_down)
            g_ptr_array_add(down, g_strdup(p->alias));
    }
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; i < down->len; i++) {
        g_autoptr(JsonNode) r = NULL;
        JsonObject *args = json_object_new();

        json_object_set_string_member(args, "name", g_ptr_array_index(down, i));
        json_object_set_boolean_member(args, "up", FALSE);
        r = vb_qemu_monitor_command(mon, "set_link", args, MONITOR_TIMEOUT_MS, error);
        if (r == NULL)
            return FALSE;
    }
    return TRUE;
}

static gboolean
set_balloon_period(VbDomainObj *dom, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args;
    int period;

    g_mutex_lock(&dom->lock);
    period = vb_domain_def_get_balloon_period(dom->def);
    g_mutex_unlock(&dom->lock);
    if (period <= 0)
        return TRUE;
    args = json_object_new();
    json_object_set_string_member(args, "path", "/machine/peripheral/balloon0");
    json_object_set_string_member(args, "property", "guest-stats-polling-interval");
    json_object_set_int_member(args, "value", period);
    r = vb_qemu_monitor_command(mon, "qom-set", args, MONITOR_TIMEOUT_MS, error);
    return r != NULL;
}

/*
 * Issue 16: whether the start needs query-chardev: a pty chardev whose pty goes into the
 * live definition, or the guest agent's channel (whether it is open already). Most
 * definitions have neither, and the round trip is saved.
 */
static gboolean
needs_chardev_query(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if ((dev->kind == VB_DEV_SERIAL || dev->kind == VB_DEV_CONSOLE ||
             dev->kind == VB_DEV_CHANNEL) && g_strcmp0(dev->type, "pty") == 0)
            return TRUE;
        if (dev->kind == VB_DEV_CHANNEL &&
            g_strcmp0(dev->target_name, VB_AGENT_CHANNEL_NAME) == 0)
            return TRUE;
    }
    return FALSE;
}

/*
 * QEMU answers qmp_capabilities after machine init, which preallocates the guest's memory
 * when asked (<allocation mode='immediate'>, huge pages, <locked/>): 14 GiB into a file took
 * longer than the 30 s the greeting had (libvirt's fd-memory-no-numa-topology). Then it gets
 * 30 s plus 10 s per GiB; Destroy still ends a start that waits.
 */
static int
greeting_timeout_ms(const VbDomainDef *def)
{
    const VbMemoryBacking *b = &vb_domain_def_get_resources(def)->backing;
    guint64 gib = (def->max_memory_kib + (1 << 20) - 1) >> 20;

    if (g_strcmp0(b->alloc_mode, "immediate") != 0 && !b->hugepages && !b->locked)
        return MONITOR_TIMEOUT_MS;
    return (int)MIN((guint64)MONITOR_TIMEOUT_MS + gib * 10000, (guint64)G_MAXINT);
}

/* Connects QMP, learns the vCPU threads, and lets the guest run. */
static gboolean
start_monitor(VbDomainList *list, VbDomainObj *dom, StartState *st, guint flags,
              GError **error)
{
    const VbQemuMonitorCallbacks cbs = { on_monitor_event, on_monitor_eof };
    g_autoptr(GArray) vcpus = NULL;
    g_autoptr(GArray) iothreads = NULL;
    g_autoptr(JsonNode) cpus = NULL;

    /* connected before QEMU existed (monitor_listen()): only the greeting is waited for;
     * the vCPU threads are asked for in the same round trip (issue 16) */
    st->mon = vb_qemu_monitor_open_fd_query(st->mon_fd, greeting_timeout_ms(st->def),
                                            "query-cpus-fast",
                                            &cpus, &cbs, run_ctx_ref(st->ctx), error);
    st->mon_fd = -1; /* taken over, closed on failure too */
    mark(st, MARK_QMP);
    if (st->mon == NULL) {
        run_ctx_unref(st->ctx);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    dom->mon = vb_qemu_monitor_ref(st->mon);
    dom->mon_ctx = st->ctx; /* the reference the monitor callbacks use */
    g_mutex_unlock(&dom->lock);

    if (!vb_domain_threads_setup(st->def, st->name, st->mon, vb_qemu_process_get_pid(st->proc),
                                 cpus, &vcpus, &iothreads, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    g_clear_pointer(&dom->vcpu_tids, g_array_unref);
    g_clear_pointer(&dom->iothread_tids, g_array_unref);
    dom->vcpu_tids = g_steal_pointer(&vcpus);
    dom->iothread_tids = g_steal_pointer(&iothreads);
    g_mutex_unlock(&dom->lock);
    /* issue 13, part vcpuio: <perf> events, as libvirt's qemuProcessEnablePerf */
    if (!vb_domain_perf_start(dom, st->def, vb_qemu_process_get_pid(st->proc), TRUE, error))
        return FALSE;
    if ((needs_chardev_query(st->def) && !record_ptys(dom, st->mon, error)) ||
        !set_passwords(dom, st->mon, error) ||
        !set_throttles(st, error) ||
        !set_balloon_period(dom, st->mon, error) || !set_link_states(dom, st->mon, error) ||
        !vb_domain_memev_setup_balloon(dom, st->mon, error)) /* issue 13, part memev */
        return FALSE;
    /* issue 13, part agent: an incoming guest may have its agent channel open already */
    if (needs_chardev_query(st->def))
        vb_domain_agent_refresh(list, dom, st->mon, VB_AGENT_REASON_DOMAIN_STARTED);
    mark(st, MARK_QUERIED);
    if (!(flags & VB_START_PAUSED)) {
        g_autoptr(JsonNode) r = NULL;

        /* issue 16: this `cont`'s RESUME is the start's own, not queued to wake an event
         * worker that only waits for the job (with the vCPU running, that wake-up delayed
         * the reply's read: `cont` 1.4 ms, bare 0.3; docs/performance.md) */
        g_mutex_lock(&dom->lock);
        dom->job.owned_event = "RESUME";
        g_mutex_unlock(&dom->lock);
        r = vb_qemu_monitor_command(st->mon, "cont", NULL, MONITOR_TIMEOUT_MS, error);
        g_mutex_lock(&dom->lock);
        dom->job.owned_event = NULL;
        g_mutex_unlock(&dom->lock);
        if (r == NULL)
            return FALSE;
    }
    mark(st, MARK_CONT);
    return TRUE;
}

/* the live definition shows the media a start dropped as gone (under dom->lock) */
static void
drop_missing_media(VbDomainDef *live, GHashTable *disks)
{
    GHashTableIter it;
    gpointer key, value;

    if (disks == NULL)
        return;
    g_hash_table_iter_init(&it, disks);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (((VbQemuDiskPrep *)value)->drop_source)
            vb_domain_def_drop_disk_source(live, key);
    }
}

/**
 * vb_domain_start_locked:
 * @flags: VbStartFlags
 * @incoming: start QEMU with "-incoming defer" for a restore; the caller
 *   then feeds it the state, sets the final state and publishes it
 *
 * Starts QEMU for @dom with the job (or the async job's nested job) held.
 */
gboolean
vb_domain_start_locked(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                       gboolean incoming, GError **error)
{
    return vb_domain_start_locked_full(list, dom, flags, owner, incoming, NULL, error);
}

/**
 * vb_domain_start_locked_full:
 * @extra: (nullable): issue 15, a start from a snapshot: the definition to run instead of
 *   the domain's (it becomes the live one; the persistent one stays aside, and is the
 *   definition again if the start fails), the internal snapshot QEMU loads before the guest
 *   runs (-loadvm), and reason/detail "from-snapshot" instead of "booted"
 *
 * vb_domain_start_locked() with a snapshot to start from.
 */
gboolean
vb_domain_start_locked_full(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                            gboolean incoming, const VbStartExtra *extra, GError **error)
{
    StartState st = { .log_fd = -1, .log_offset = -1, .display_port = -1,
                      .websocket_port = -1, .listen_fd = -1, .mon_fd = -1 };
    g_auto(GStrv) argv = NULL;
    gboolean paused = (flags & VB_START_PAUSED) != 0 || incoming;
    gboolean from_snapshot = extra != NULL && extra->from_snapshot;
    g_autoptr(VbDomainDef) run_def = NULL;

    if (extra != NULL && extra->def != NULL) {
        run_def = vb_domain_def_copy(extra->def);
        if (run_def == NULL) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                                "cannot copy the snapshot's definition to start it");
            return FALSE;
        }
    }
    st.loadvm = extra != NULL ? extra->loadvm : NULL;
    mark(&st, MARK_BEGIN);
    g_mutex_lock(&dom->lock);
    if (dom->removed) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "domain '%s' was undefined",
                    dom->def->name);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    if (dom->id >= 0 || dom->starting) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "domain '%s' is already running",
                    dom->def->name);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    /* from here on a DefineXML goes to new_def and an Undefine leaves the
     * domain transient: the definition copied below is the one QEMU runs */
    dom->starting = TRUE;
    if (run_def != NULL) {
        /* the persistent definition is set aside as for a running domain
         * (vb_domain_start_live_defaults() does the same): a failed start makes it the
         * definition again */
        if (dom->persistent && dom->new_def == NULL)
            dom->new_def = g_steal_pointer(&dom->def);
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&run_def);
    }
    g_mutex_unlock(&dom->lock);

    if (!start_prepare(list, dom, &st, incoming, &argv, error) ||
        !start_spawn(list, dom, &st, argv, owner, flags, error) ||
        !start_monitor(list, dom, &st, paused ? flags | VB_START_PAUSED : flags, error)) {
        g_autofree char *qemu_said = NULL;

        start_rollback(list, dom, &st);
        /* what QEMU wrote, once it was about to run (the log holds earlier runs too) */
        qemu_said = st.name != NULL && st.log_offset >= 0
                        ? read_log_since(list, st.name, st.log_offset)
                        : NULL;
        if (qemu_said != NULL && *qemu_said != '\0' && error != NULL && *error != NULL)
            g_prefix_error(error, "QEMU: %s; ", qemu_said);
        if (st.name != NULL)
            g_prefix_error(error, "cannot start domain '%s': ", st.name);
        start_state_clear(&st);
        return FALSE;
    }

    g_mutex_lock(&dom->lock);
    dom->starting = FALSE;
    /* the persistent definition stays aside (a DefineXML during the start
     * already put the newer one there); the live one may change */
    if (dom->persistent && dom->new_def == NULL)
        dom->new_def = vb_domain_def_copy(dom->def);
    drop_missing_media(dom->def, st.disks);
    vb_domain_chains_from_prep_locked(dom, st.disks); /* issue 15: the live XML's chains */
    if (!incoming) {
        vb_domain_obj_set_state(dom, paused ? VB_DOMAIN_STATE_PAUSED : VB_DOMAIN_STATE_RUNNING,
                                from_snapshot ? VB_DOMAIN_REASON_FROM_SNAPSHOT
                                : paused      ? VB_DOMAIN_REASON_USER
                                              : VB_DOMAIN_REASON_BOOTED);
        dom->resumed_at = g_get_real_time();
    }
    g_mutex_unlock(&dom->lock);
    {
        g_autoptr(GError) status_err = NULL;

        if (!vb_domain_status_save(list, dom, &status_err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, st.name, "%s", status_err->message);
    }
    mark(&st, MARK_DONE);
    /* issue 16: where the time of a start goes (G_MESSAGES_DEBUG=virtbus-domain) */
#define STEP_MS(a, b) ((st.marks[b] - st.marks[a]) / 1000.0)
    g_debug("domain %s: start steps (ms): prepare %.2f, status+socket %.2f, launch %.2f, "
            "QMP greeting+capabilities %.2f, queries %.2f, cont %.2f, status %.2f; total %.2f",
            st.name, STEP_MS(MARK_BEGIN, MARK_PREPARED), STEP_MS(MARK_PREPARED, MARK_READY),
            STEP_MS(MARK_READY, MARK_LAUNCHED), STEP_MS(MARK_LAUNCHED, MARK_QMP),
            STEP_MS(MARK_QMP, MARK_QUERIED), STEP_MS(MARK_QUERIED, MARK_CONT),
            STEP_MS(MARK_CONT, MARK_DONE), STEP_MS(MARK_BEGIN, MARK_DONE));
#undef STEP_MS
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, st.name, "started (id %d, pid %d)%s", st.id,
                  (int)vb_qemu_process_get_pid(st.proc),
                  incoming ? ", waiting for its saved state" : paused ? ", paused" : "");
    if (!incoming) {
        const char *detail = from_snapshot ? "from-snapshot" : NULL;

        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "started",
                              detail != NULL ? detail : "booted");
        if (paused)
            vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "suspended",
                                  detail != NULL ? detail : "paused");
    }
    start_state_clear(&st);
    return TRUE;
}

/**
 * vb_domain_start:
 * @flags: VbStartFlags
 * @owner: (nullable): the caller's bus name (for the job and AUTODESTROY)
 *
 * Starts QEMU for @dom and waits until it runs (or is paused with
 * PAUSED). A domain with a managed save image is restored from it instead
 * (unless FORCE_BOOT, which discards the image). On failure nothing is
 * left behind and the error carries what QEMU said. Takes the domain's
 * job.
 */
gboolean
vb_domain_start(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                GError **error)
{
    gboolean ok, managed;

    g_mutex_lock(&dom->lock);
    managed = dom->has_managed_save && dom->id < 0;
    g_mutex_unlock(&dom->lock);
    if (managed && !(flags & VB_START_FORCE_BOOT))
        return vb_domain_restore_managed(list, dom, flags, owner, error);
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, "Start", owner, list->config->job_wait_timeout,
                             list->config->max_queued, error))
        return FALSE;
    if (managed && !vb_domain_managed_save_discard(list, dom, error)) {
        vb_domain_job_end(dom);
        return FALSE;
    }
    ok = vb_domain_start_locked(list, dom, flags, owner, FALSE, error);
    vb_domain_job_end(dom);
    return ok;
}

static const char *
stop_detail(VbDomainReason reason)
{
    switch (reason) {
    case VB_DOMAIN_REASON_DESTROYED:
        return "destroyed";
    case VB_DOMAIN_REASON_SHUTDOWN:
        return "shutdown";
    case VB_DOMAIN_REASON_CRASHED:
        return "crashed";
    case VB_DOMAIN_REASON_FAILED:
        return "failed";
    default:
        return vb_domain_reason_to_string(reason);
    }
}

/**
 * vb_domain_teardown:
 * @reason: why it stopped
 *
 * The end of a run: closes the monitor, makes sure QEMU is gone, removes
 * the runtime files and status XML, and marks the domain shut off (a
 * transient domain leaves the list). With the job held.
 */
void
vb_domain_teardown(VbDomainList *list, VbDomainObj *dom, VbDomainReason reason)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(VbQemuProcess) proc = NULL;
    g_autofree char *runtime_dir = NULL, *monitor_path = NULL, *pidfile = NULL, *name = NULL;
    RunCtx *mon_ctx;
    gboolean transient;
    int display_port;
    int websocket_port;
    int migration_port;
    int nbd_port;
    g_autoptr(VbJob) held_record = NULL;
    gpointer migration = NULL;
    GDestroyNotify migration_free = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->id < 0) {
        g_mutex_unlock(&dom->lock);
        return;
    }
    dom->stopping = TRUE;
    g_cond_broadcast(&dom->cond); /* waiters for block jobs give up */
    mon = g_steal_pointer(&dom->mon);
    mon_ctx = g_steal_pointer(&dom->mon_ctx);
    proc = g_steal_pointer(&dom->proc);
    runtime_dir = g_steal_pointer(&dom->runtime_dir);
    monitor_path = g_steal_pointer(&dom->monitor_path);
    pidfile = g_steal_pointer(&dom->pidfile);
    name = g_strdup(dom->def->name);
    g_clear_pointer(&dom->vcpu_tids, g_array_unref);
    g_clear_pointer(&dom->iothread_tids, g_array_unref);
    g_clear_pointer(&dom->unplug_nodes, g_hash_table_unref); /* issue 13, part hotplug */
    g_clear_pointer(&dom->perf, g_hash_table_unref);         /* issue 13, part vcpuio */
    g_mutex_unlock(&dom->lock);

    if (mon != NULL)
        vb_qemu_monitor_close(mon);
    run_ctx_unref(mon_ctx); /* no callback runs after close */
    if (proc != NULL && !vb_qemu_process_has_exited(proc, NULL)) {
        g_autoptr(GError) kill_err = NULL;

        if (!vb_qemu_process_kill(proc, FALSE, 2000, &kill_err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "%s", kill_err->message);
    }
    vb_domain_helpers_stop(dom); /* before the cgroup they are in goes */
    vb_domain_cgroup_remove(dom); /* issue 14, part cgroup: QEMU is gone */
    vb_domain_net_release(dom);
    vb_domain_dac_release(list, dom); /* issue 14, part dac */
    remove_runtime_files(runtime_dir, monitor_path, pidfile);
    vb_domain_status_remove(list, dom);
    {
        int fd = open_log(list, name, NULL);
        g_autofree char *line = g_strdup_printf("shutting down, reason=%s",
                                                vb_domain_reason_to_string(reason));

        log_line(fd, line);
        if (fd >= 0)
            close(fd);
    }

    g_mutex_lock(&dom->lock);
    dom->id = -1;
    dom->run = 0;
    g_clear_pointer(&dom->caps, vb_qemu_caps_unref);
    g_clear_pointer(&dom->autodestroy_owner, g_free);
    display_port = dom->display_port;
    dom->display_port = -1;
    websocket_port = dom->websocket_port;
    dom->websocket_port = -1;
    migration_port = dom->migration_port;
    dom->migration_port = -1;
    nbd_port = dom->nbd_port;
    dom->nbd_port = -1;
    g_clear_pointer(&dom->block_jobs, g_hash_table_unref);
    g_cond_broadcast(&dom->cond); /* a wait for a block job ends with the run */
    /* a migration kept between calls ends with the run (no thread would end it) */
    if (dom->job.held) {
        if (dom->job.record != NULL)
            held_record = vb_job_ref(dom->job.record);
        vb_domain_async_job_end_locked(dom);
        migration = g_steal_pointer(&dom->migration);
        migration_free = dom->migration_free;
    }
    dom->taint = 0;
    dom->fake_reboot = dom->got_shutdown = dom->destroying = dom->stopping = FALSE;
    dom->agent_connected = dom->agent_frozen = FALSE; /* issue 13, part agent */
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_SHUTOFF, reason);
    if (dom->new_def != NULL) {
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&dom->new_def);
    }
    /* runtime-only values leave with the run (a transient domain's, too) */
    vb_domain_def_clear_runtime(dom->def);
    transient = !dom->persistent;
    g_mutex_unlock(&dom->lock);
    /* never under the domain lock (docs/threads.md, Locks) */
    vb_domain_ports_release(list, display_port);
    vb_domain_ports_release(list, websocket_port);
    vb_domain_ports_release(list, migration_port);
    vb_domain_ports_release(list, nbd_port);
    if (migration != NULL && migration_free != NULL)
        migration_free(migration);
    if (held_record != NULL && !vb_job_is_completed(held_record)) {
        g_autoptr(GError) ended = g_error_new(VB_ERROR, VB_ERROR_FAILED,
                                              "the migration ended with the run of domain "
                                              "'%s' (%s)", name,
                                              vb_domain_reason_to_string(reason));

        vb_job_complete(held_record, NULL, ended, FALSE);
        vb_domain_list_job_notify(list, held_record, VB_JOB_NOTIFY_COMPLETED);
    }

    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "stopped (%s)", vb_domain_reason_to_string(reason));
    if (transient) {
        vb_domain_list_remove(list, dom);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_REMOVED, "stopped",
                              stop_detail(reason));
    } else {
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "stopped",
                              stop_detail(reason));
    }
}

/**
 * vb_domain_destroy:
 * @flags: VbDestroyFlags (GRACEFUL: never SIGKILL)
 *
 * Kills QEMU first — without waiting for the domain's job, so that a
 * call stuck waiting on QEMU is released by the monitor's EOF — then
 * takes the job and tears the domain down with reason "destroyed".
 */
gboolean
vb_domain_destroy(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                  GError **error)
{
    g_autoptr(VbQemuProcess) proc = NULL;
    guint64 run;

    g_mutex_lock(&dom->lock);
    if (dom->id < 0 || dom->proc == NULL) {
        vb_domain_obj_set_not_running_error(dom, "Destroy", error);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    proc = vb_qemu_process_ref(dom->proc);
    run = dom->run;
    dom->destroying = TRUE;
    g_mutex_unlock(&dom->lock);

    if (!vb_qemu_process_kill(proc, (flags & VB_DESTROY_GRACEFUL) != 0, TERM_TIMEOUT_MS,
                              error)) {
        g_mutex_lock(&dom->lock);
        dom->destroying = FALSE;
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    if (!vb_domain_job_begin(dom, VB_JOB_DESTROY, "Destroy", owner,
                             list->config->job_wait_timeout, 0, error)) {
        gboolean gone;

        /* a transient domain torn down by its end-of-run event is gone:
         * that is the destroy's success, not an error */
        g_mutex_lock(&dom->lock);
        gone = dom->removed && dom->run != run;
        g_mutex_unlock(&dom->lock);
        if (gone)
            g_clear_error(error);
        return gone;
    }
    g_mutex_lock(&dom->lock);
    /* the EOF handler may have torn this run down already, as "destroyed" */
    if (dom->run != run || dom->id < 0) {
        g_mutex_unlock(&dom->lock);
        vb_domain_job_end(dom);
        return TRUE;
    }
    g_mutex_unlock(&dom->lock);
    vb_domain_teardown(list, dom, VB_DOMAIN_REASON_DESTROYED);
    vb_domain_job_end(dom);
    return TRUE;
}

/**
 * vb_domain_create_xml:
 * @flags: VbStartFlags
 *
 * Creates and starts a transient domain: it is gone from the list once
 * it stops, or at once if it fails to start.
 *
 * Returns: (transfer full): the running domain, or %NULL.
 */
VbDomainObj *
vb_domain_create_xml(VbDomainList *list, const char *xml, guint flags, const char *owner,
                     GError **error)
{
    g_auto(GStrv) unsupported = NULL;
    g_autoptr(VbDomainDef) def = vb_domain_parse_define(list, xml, &unsupported, error);
    g_autoptr(VbDomainObj) dom = NULL;
    g_autofree char *path = NULL;
    g_autofree char *name = NULL;
    char uuid[37];

    if (def == NULL)
        return NULL;
    if ((flags & VB_START_VALIDATE) &&
        !vb_domain_unsupported_check((const char *const *)unsupported, def->name, error))
        return NULL;
    vb_uuid_format(def->uuid, uuid);
    name = g_strdup(def->name);
    path = list->path_func(uuid);

    g_mutex_lock(&list->define_lock);
    g_mutex_lock(&list->lock);
    if (vb_domain_list_has_uuid_locked(list, uuid) || vb_domain_list_has_name_locked(list, name)) {
        g_mutex_unlock(&list->lock);
        g_mutex_unlock(&list->define_lock);
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "domain '%s' or uuid %s already exists; use Start for a defined domain",
                    name, uuid);
        return NULL;
    }
    dom = vb_domain_obj_new(g_steal_pointer(&def), path);
    dom->unsupported = g_steal_pointer(&unsupported);
    vb_domain_list_insert(list, dom, name);
    g_mutex_unlock(&list->lock);
    g_mutex_unlock(&list->define_lock);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_ADDED, NULL, NULL);

    if (!vb_domain_start(list, dom, flags, owner, error)) {
        vb_domain_list_remove(list, dom);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_REMOVED, NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&dom);
}

/* The state QEMU reports (query-status), as ours; reason kept when it fits. */
static void
apply_qemu_status(VbDomainObj *dom, JsonNode *status)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(status) ? json_node_get_object(status) : NULL;
    const char *st = o != NULL && json_object_has_member(o, "status")
                         ? json_object_get_string_member(o, "status")
                         : NULL;
    gboolean running = o != NULL && json_object_has_member(o, "running") &&
                       json_object_get_boolean_member(o, "running");

    if (running) {
        if (dom->state != VB_DOMAIN_STATE_RUNNING)
            vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNKNOWN);
    } else if (g_strcmp0(st, "shutdown") == 0) {
        /* the guest powered off while we were away: finish the job */
        dom->got_shutdown = TRUE;
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_SHUTDOWN, VB_DOMAIN_REASON_SHUTTING_DOWN);
    } else if (g_strcmp0(st, "guest-panicked") == 0) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_CRASHED, VB_DOMAIN_REASON_PANICKED);
    } else if (dom->state != VB_DOMAIN_STATE_PAUSED) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_UNKNOWN);
    }
}

/**
 * vb_domain_process_detach:
 *
 * Stops the callbacks of @dom's run (QMP events, the monitor's end, the
 * process exit) and leaves QEMU running: the service is stopping, and
 * its next start reconnects. Once this returns, no callback of the run is
 * running or will run, so the list they point to may be freed. Any
 * thread but the monitor and process-watch threads.
 */
void
vb_domain_process_detach(VbDomainObj *dom)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(VbQemuProcess) proc = NULL;
    RunCtx *mon_ctx;

    g_mutex_lock(&dom->lock);
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    mon_ctx = g_steal_pointer(&dom->mon_ctx);
    proc = dom->proc != NULL ? vb_qemu_process_ref(dom->proc) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon != NULL)
        vb_qemu_monitor_close(mon);
    run_ctx_unref(mon_ctx); /* no monitor callback runs after close */
    if (proc != NULL)
        run_ctx_unref(vb_qemu_process_detach(proc));
    vb_domain_helpers_detach(dom);
}

/**
 * vb_domain_process_reattach:
 * @pid: the QEMU found running at start-up (checked by the caller)
 * @monitor_path: its QMP socket
 *
 * Takes a running QEMU back after a restart of the service: watches the
 * process through a pidfd, reconnects QMP, and refreshes the state from
 * QEMU. The caller has set the domain's runtime fields from its status
 * XML. Start-up only, before the bus name is owned.
 */
gboolean
vb_domain_process_reattach(VbDomainList *list, VbDomainObj *dom, pid_t pid,
                           const char *monitor_path, GError **error)
{
    const VbQemuMonitorCallbacks cbs = { on_monitor_event, on_monitor_eof };
    g_autoptr(VbQemuProcess) proc = NULL;
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) status = NULL;
    RunCtx *ctx = g_new0(RunCtx, 1);

    ctx->refcount = 1;
    ctx->list = list;
    ctx->dom = vb_domain_obj_ref(dom);
    ctx->run = (guint64)g_atomic_int_add(&run_counter, 1) + 1;
    g_mutex_lock(&dom->lock);
    dom->run = ctx->run;
    g_mutex_unlock(&dom->lock);

    run_ctx_ref(ctx); /* the process watch's */
    proc = vb_qemu_process_attach(pid, on_process_exit, ctx, error);
    if (proc == NULL) {
        run_ctx_unref(ctx);
        run_ctx_unref(ctx);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    dom->proc = vb_qemu_process_ref(proc);
    g_mutex_unlock(&dom->lock);

    mon = vb_qemu_monitor_open(monitor_path, pid, 5000, &cbs, ctx, error);
    if (mon == NULL) {
        run_ctx_unref(ctx);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    dom->mon = vb_qemu_monitor_ref(mon);
    dom->mon_ctx = ctx; /* our reference now belongs to the monitor callbacks */
    g_mutex_unlock(&dom->lock);

    status = vb_qemu_monitor_command(mon, "query-status", NULL, MONITOR_TIMEOUT_MS, error);
    if (status == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    apply_qemu_status(dom, status);
    g_mutex_unlock(&dom->lock);
    return TRUE;
}
