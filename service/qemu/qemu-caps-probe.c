/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-caps.h"
#include "qemu-monitor.h"
#include "vb-error.h"

/*
 * Probing one binary: `BINARY -machine none,accel=tcg:qtest -nodefaults -S
 * -qmp unix:SOCK` in a private temporary directory with a clean
 * environment, then a handful of queries over QMP and `quit`. qtest is
 * the fallback for KVM-only builds (Debian's qemu-system-x86_64-microvm),
 * which refuse to start with accel=tcg alone.
 */

#define PROBE_TIMEOUT_MS 10000

static gint probe_count;

/**
 * vb_qemu_caps_probe_count:
 *
 * Returns: how many binaries this process has probed so far (for tests).
 */
guint
vb_qemu_caps_probe_count(void)
{
    return (guint)g_atomic_int_get(&probe_count);
}

/**
 * vb_qemu_probe_child_setup:
 * @parent_pid: the prober's pid (GINT_TO_POINTER(getpid()))
 *
 * A g_spawn child_setup for the QEMUs the service probes (capabilities, KVM): the child
 * dies with the thread that spawned it and waits for it, and exits at once if that thread
 * is already gone, so a service killed during a probe leaves no QEMU behind.
 */
void
vb_qemu_probe_child_setup(gpointer parent_pid)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != (pid_t)GPOINTER_TO_INT(parent_pid))
        _exit(127);
}

static const char *
str_member(JsonObject *obj, const char *name)
{
    JsonNode *n = obj != NULL ? json_object_get_member(obj, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

static gint64
int_member(JsonObject *obj, const char *name)
{
    JsonNode *n = obj != NULL ? json_object_get_member(obj, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64
               ? json_node_get_int(n)
               : 0;
}

static gboolean
bool_member(JsonObject *obj, const char *name)
{
    JsonNode *n = obj != NULL ? json_object_get_member(obj, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_BOOLEAN && json_node_get_boolean(n);
}

static JsonObject *
obj_member(JsonObject *obj, const char *name)
{
    JsonNode *n = obj != NULL ? json_object_get_member(obj, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonNode *
query(VbQemuMonitor *mon, const char *command, JsonObject *args, JsonNodeType type,
      GError **error)
{
    JsonNode *ret = vb_qemu_monitor_command(mon, command, args, PROBE_TIMEOUT_MS, error);

    if (ret != NULL && JSON_NODE_TYPE(ret) != type) {
        json_node_unref(ret);
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "unexpected reply to %s", command);
        return NULL;
    }
    return ret;
}

/* Adds the "name" member of every object in @array (whose @filter member is @value). */
static void
add_names(GHashTable *set, JsonNode *array, const char *filter, const char *value)
{
    JsonArray *a = json_node_get_array(array);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *name = str_member(o, "name");

        if (name != NULL && (filter == NULL || g_strcmp0(str_member(o, filter), value) == 0))
            g_hash_table_add(set, g_strdup(name));
    }
}

static void
add_machines(VbQemuCaps *caps, JsonNode *array)
{
    JsonArray *a = json_node_get_array(array);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        VbQemuMachine *m;

        if (str_member(o, "name") == NULL)
            continue;
        m = g_new0(VbQemuMachine, 1);
        m->name = g_strdup(str_member(o, "name"));
        m->alias = g_strdup(str_member(o, "alias"));
        m->is_default = bool_member(o, "is-default");
        m->deprecated = bool_member(o, "deprecated");
        m->max_cpus = (guint)CLAMP(int_member(o, "cpu-max"), 0, G_MAXUINT);
        g_ptr_array_add(caps->machines, m);
    }
}

/* "pc-q35-2.9" < "pc-q35-2.10": runs of digits compare as numbers. */
static int
compare_natural(const char *a, const char *b)
{
    while (*a != '\0' && *b != '\0') {
        if (g_ascii_isdigit(*a) && g_ascii_isdigit(*b)) {
            char *ea, *eb;
            guint64 na = g_ascii_strtoull(a, &ea, 10);
            guint64 nb = g_ascii_strtoull(b, &eb, 10);

            if (na != nb)
                return na < nb ? -1 : 1;
            a = ea;
            b = eb;
        } else if (*a != *b) {
            return (guchar)*a - (guchar)*b;
        } else {
            a++;
            b++;
        }
    }
    return (guchar)*a - (guchar)*b;
}

static int
compare_machines(gconstpointer a, gconstpointer b)
{
    const VbQemuMachine *ma = *(VbQemuMachine *const *)a;
    const VbQemuMachine *mb = *(VbQemuMachine *const *)b;

    return compare_natural(ma->name, mb->name);
}

static gboolean
query_version(VbQemuCaps *caps, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) ver = query(mon, "query-version", NULL, JSON_NODE_OBJECT, error);
    g_autoptr(JsonNode) target = NULL;
    JsonObject *q;

    if (ver == NULL)
        return FALSE;
    q = obj_member(json_node_get_object(ver), "qemu");
    caps->version = (guint)(CLAMP(int_member(q, "major"), 0, 999) * 1000000 +
                            CLAMP(int_member(q, "minor"), 0, 999) * 1000 +
                            CLAMP(int_member(q, "micro"), 0, 999));
    caps->package = g_strdup(str_member(json_node_get_object(ver), "package"));
    target = query(mon, "query-target", NULL, JSON_NODE_OBJECT, error);
    if (target == NULL)
        return FALSE;
    caps->arch = g_strdup(str_member(json_node_get_object(target), "arch"));
    return caps->arch != NULL ||
           (g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU, "QEMU reported no arch"),
            FALSE);
}

/*
 * QEMU 7.2 no longer has query-events; the names would be in
 * query-qmp-schema, but that reply (~200 KB) doubles the probe time, so
 * the set stays empty there.
 */
static gboolean
query_events(VbQemuCaps *caps, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) events = NULL;

    if (!vb_qemu_caps_has_command(caps, "query-events"))
        return TRUE;
    events = query(mon, "query-events", NULL, JSON_NODE_ARRAY, error);
    if (events == NULL)
        return FALSE;
    add_names(caps->events, events, NULL, NULL);
    return TRUE;
}

static gboolean
query_accels(VbQemuCaps *caps, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) types = NULL;
    g_autoptr(GHashTable) accels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "implements", "accel");
    json_object_set_boolean_member(args, "abstract", FALSE);
    types = query(mon, "qom-list-types", args, JSON_NODE_ARRAY, error);
    if (types == NULL)
        return FALSE;
    add_names(accels, types, NULL, NULL);
    caps->tcg_available = g_hash_table_contains(accels, "tcg-accel");
    return TRUE;
}

/* The probe runs TCG: which CPU models it has and what each lacks, and which features TCG
 * can provide at all (the properties "max" expands to). */
static gboolean
query_tcg_cpus(VbQemuCaps *caps, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) defs = NULL;
    g_autoptr(JsonNode) exp = NULL;
    JsonObject *args;
    JsonObject *model;
    JsonObject *props;
    JsonArray *a;

    if (!caps->tcg_available || !vb_qemu_caps_has_command(caps, "query-cpu-definitions") ||
        !vb_qemu_caps_has_command(caps, "query-cpu-model-expansion"))
        return TRUE;
    defs = query(mon, "query-cpu-definitions", NULL, JSON_NODE_ARRAY, error);
    if (defs == NULL)
        return FALSE;
    a = json_node_get_array(defs);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonNode *un = o != NULL ? json_object_get_member(o, "unavailable-features") : NULL;
        g_autoptr(GString) list = g_string_new(NULL);

        if (str_member(o, "name") == NULL)
            continue;
        for (guint k = 0; un != NULL && JSON_NODE_HOLDS_ARRAY(un) &&
                          k < json_array_get_length(json_node_get_array(un));
             k++) {
            const char *f = json_array_get_string_element(json_node_get_array(un), k);

            if (f != NULL)
                g_string_append_printf(list, "%s%s", list->len ? " " : "", f);
        }
        g_hash_table_replace(caps->tcg_cpu_models, g_strdup(str_member(o, "name")),
                             g_string_free(g_steal_pointer(&list), FALSE));
    }
    args = json_object_new();
    model = json_object_new();
    json_object_set_string_member(model, "name", "max");
    json_object_set_string_member(args, "type", "full");
    json_object_set_object_member(args, "model", model);
    exp = query(mon, "query-cpu-model-expansion", args, JSON_NODE_OBJECT, error);
    if (exp == NULL)
        return FALSE;
    props = obj_member(obj_member(json_node_get_object(exp), "model"), "props");
    if (props != NULL) {
        g_autoptr(GList) names = json_object_get_members(props);

        for (GList *l = names; l != NULL; l = l->next) {
            JsonNode *v = json_object_get_member(props, l->data);

            if (v == NULL || !JSON_NODE_HOLDS_VALUE(v) ||
                json_node_get_value_type(v) != G_TYPE_BOOLEAN)
                continue; /* not a feature flag (model-id, family, ...) */
            g_hash_table_add(caps->cpu_features, g_strdup(l->data));
            if (bool_member(props, l->data))
                g_hash_table_add(caps->tcg_cpu_features, g_strdup(l->data));
        }
    }
    return TRUE;
}

static gboolean
query_all(VbQemuCaps *caps, VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) cmds = NULL;
    g_autoptr(JsonNode) machines = NULL;
    g_autoptr(JsonNode) types = NULL;
    g_autoptr(JsonNode) kvm = NULL;
    JsonObject *args;
    int fd;

    if (!query_version(caps, mon, error) ||
        (cmds = query(mon, "query-commands", NULL, JSON_NODE_ARRAY, error)) == NULL)
        return FALSE;
    add_names(caps->commands, cmds, NULL, NULL);
    if (!query_events(caps, mon, error) ||
        (machines = query(mon, "query-machines", NULL, JSON_NODE_ARRAY, error)) == NULL)
        return FALSE;
    add_machines(caps, machines);
    g_ptr_array_sort(caps->machines, compare_machines);
    args = json_object_new();
    json_object_set_string_member(args, "implements", "device");
    json_object_set_boolean_member(args, "abstract", FALSE);
    types = query(mon, "qom-list-types", args, JSON_NODE_ARRAY, error);
    if (types == NULL)
        return FALSE;
    add_names(caps->devices, types, NULL, NULL);
    if (!query_accels(caps, mon, error) || !query_tcg_cpus(caps, mon, error))
        return FALSE;
    {
        /* -sandbox exists only in a build with seccomp: an error names the option unknown */
        g_autoptr(JsonNode) opt = NULL;

        args = json_object_new();
        json_object_set_string_member(args, "option", "sandbox");
        opt = vb_qemu_monitor_command(mon, "query-command-line-options", args,
                                      PROBE_TIMEOUT_MS, NULL);
        caps->sandbox = opt != NULL;
    }
    if (vb_qemu_caps_has_command(caps, "query-kvm")) {
        kvm = query(mon, "query-kvm", NULL, JSON_NODE_OBJECT, error);
        if (kvm == NULL)
            return FALSE;
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        /* present is not enough: the vCPU must really run (qemu-kvm-probe.c) */
        caps->kvm_available = fd >= 0 && bool_member(json_node_get_object(kvm), "present") &&
                              vb_qemu_kvm_usable(caps->binary, NULL);
        if (fd >= 0)
            close(fd);
    }
    return TRUE;
}

/* Reaps @pid, killing it after @timeout_ms. Returns its wait status. */
static int
reap(pid_t pid, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int status = 0;
    pid_t r;

    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && g_get_monotonic_time() < deadline)
        g_usleep(1000);
    if (r == 0) {
        kill(pid, SIGKILL);
        r = waitpid(pid, &status, 0);
    }
    return status;
}

static char *
read_output(int fd)
{
    g_autoptr(GString) out = g_string_new(NULL);
    char buf[4096];
    gssize n;

    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    while (out->len < 8192 && (n = read(fd, buf, sizeof(buf))) > 0)
        g_string_append_len(out, buf, n);
    g_strchomp(out->str);
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean
spawn_qemu(const char *binary, const char *dir, const char *sock, GPid *out_pid, int *out_fd,
           GError **error)
{
    g_autofree char *qmp = g_strdup_printf("unix:%s,server=on,wait=off", sock);
    g_autofree char *home = g_strdup_printf("HOME=%s", dir);
    const char *argv[] = { binary, "-machine", "none,accel=tcg:qtest", "-nodefaults",
                           "-no-user-config", "-nographic", "-S", "-qmp", qmp, NULL };
    const char *envp[] = { "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", home, NULL };
    g_autoptr(GError) local = NULL;
    int fds[2];
    gboolean ok;

    if (!g_unix_open_pipe(fds, FD_CLOEXEC, &local)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "pipe: %s", local->message);
        return FALSE;
    }
    ok = g_spawn_async_with_pipes_and_fds(dir, argv, envp,
                                          G_SPAWN_DO_NOT_REAP_CHILD |
                                              G_SPAWN_STDIN_FROM_DEV_NULL,
                                          vb_qemu_probe_child_setup, GINT_TO_POINTER(getpid()),
                                          -1, fds[1], fds[1], NULL, NULL, 0,
                                          out_pid, NULL, NULL, NULL, &local);
    close(fds[1]);
    if (!ok) {
        close(fds[0]);
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "cannot run %s: %s", binary, local->message);
        return FALSE;
    }
    *out_fd = fds[0];
    return TRUE;
}

/*
 * The -audiodev drivers the binary can load: `-audiodev help` lists them after trying
 * each module (a missing one is left out, with a note on stderr).
 */
static void
probe_audiodevs(VbQemuCaps *caps, const char *binary, const char *dir)
{
    g_autofree char *home = g_strdup_printf("HOME=%s", dir);
    const char *argv[] = { binary, "-audiodev", "help", NULL };
    const char *envp[] = { "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", home, NULL };
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    gboolean listing = FALSE;

    if (!g_spawn_sync(dir, (char **)argv, (char **)envp, G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                      NULL, &out, NULL, NULL, NULL))
        return;
    lines = g_strsplit(out, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *l = g_strstrip(lines[i]);

        if (g_str_has_prefix(l, "Available audio drivers"))
            listing = TRUE;
        else if (listing && *l != '\0' && strchr(l, ' ') == NULL)
            g_hash_table_add(caps->audiodevs, g_strdup(l));
    }
}

static VbQemuCaps *
probe_in(const char *binary, const char *dir, GError **error)
{
    g_autofree char *sock = g_build_filename(dir, "qmp.sock", NULL);
    g_autoptr(VbQemuCaps) caps = vb_qemu_caps_new();
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *output = NULL;
    GPid pid;
    int out_fd;
    gboolean ok;

    if (!spawn_qemu(binary, dir, sock, &pid, &out_fd, error))
        return NULL;
    g_atomic_int_inc(&probe_count);
    mon = vb_qemu_monitor_open(sock, pid, PROBE_TIMEOUT_MS, NULL, NULL, &local);
    caps->binary = g_strdup(binary);
    ok = mon != NULL && query_all(caps, mon, &local);
    if (mon != NULL) {
        g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, "quit", NULL, 2000, NULL);

        vb_qemu_monitor_close(mon);
    }
    reap(pid, ok ? 2000 : 0);
    output = read_output(out_fd);
    close(out_fd);
    if (!ok) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "probing %s failed: %s%s%s", binary,
                    local->message, *output != '\0' ? "; QEMU said: " : "", output);
        return NULL;
    }
    probe_audiodevs(caps, binary, dir);
    return g_steal_pointer(&caps);
}

/**
 * vb_qemu_caps_probe:
 * @binary: absolute path of a qemu-system-* binary
 *
 * Runs @binary once and asks it over QMP, bypassing every cache. Blocking
 * (~100 ms): worker threads only.
 *
 * Returns: (transfer full): the caps, or NULL with VB_ERROR_QEMU.
 */
VbQemuCaps *
vb_qemu_caps_probe(const char *binary, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *sock = NULL;
    VbQemuCaps *caps;
    GStatBuf st;

    if (g_stat(binary, &st) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "cannot probe %s: %s", binary,
                    g_strerror(errno));
        return NULL;
    }
    dir = g_dir_make_tmp("vb-qemu-caps-XXXXXX", &local);
    if (dir == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "%s", local->message);
        return NULL;
    }
    caps = probe_in(binary, dir, error);
    sock = g_build_filename(dir, "qmp.sock", NULL);
    g_unlink(sock);
    g_rmdir(dir);
    if (caps == NULL)
        return NULL;
    caps->size = st.st_size;
    caps->mtime = st.st_mtime;
    g_debug("probed %s: QEMU %u, %u machines, %u commands, %u events, %u devices", binary,
            caps->version, caps->machines->len, g_hash_table_size(caps->commands),
            g_hash_table_size(caps->events), g_hash_table_size(caps->devices));
    return caps;
}
