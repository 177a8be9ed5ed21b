/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The helper processes of a run (issue 10, part helpers): swtpm, virtiofsd and passt,
 * planned by qemu-helpers.c. They start after the status XML marks the start and before QEMU, are
 * recorded in the status XML (<helper kind= id= pid= socket=>), and stop with the run
 * however it ends (teardown, failed start). A restarted service takes them back with their
 * QEMU, or kills them when their QEMU is gone or its start never finished
 * (domain-reconnect.c). They run as the service's children, started through the launcher
 * as QEMU is (issue 14): sessions of their own, exactly QEMU's environment, no-new-privs, the
 * domain's cgroup; swtpm and passt as QEMU's user. A service that is killed leaves them
 * running for its next start.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "domain-cgroup.h"
#include "domain-list-priv.h"
#include "qemu-helpers.h"
#include "vb-error.h"
#include "vb-log.h"

#define HELPER_SOCKET_TIMEOUT_MS 10000
#define HELPER_TERM_TIMEOUT_MS 3000
#define SETUP_TIMEOUT_MS 60000

void
vb_domain_helper_run_free(VbDomainHelperRun *run)
{
    if (run == NULL)
        return;
    g_free(run->kind);
    g_free(run->id);
    g_free(run->socket);
    g_clear_pointer(&run->proc, vb_qemu_process_unref);
    g_free(run);
}

/* The launcher's hook for a helper: it joins the cgroup or scope of its QEMU before its exec
 * (issue 14; QEMU's own attach ran first, see start_spawn()). */
static gboolean
helper_hook(pid_t pid, gpointer data, GError **error)
{
    return vb_domain_cgroup_join(data, pid, error);
}

/* passt's "--runas UID:GID" names QEMU's user when the helper runs as it */
static GStrv
helper_argv(const VbQemuHelper *h, const VbQemuIds *ids, gboolean as_qemu)
{
    GStrv argv = g_strdupv(h->argv);

    for (guint i = 0; as_qemu && argv[i] != NULL && argv[i + 1] != NULL; i++) {
        if (strcmp(argv[i], "--runas") == 0) {
            g_free(argv[i + 1]);
            argv[i + 1] = g_strdup_printf("%u:%u", (guint)ids->uid, (guint)ids->gid);
            break;
        }
    }
    return argv;
}

/*
 * Runs @argv through the launcher as QEMU runs (issue 14; docs/confinement.md): exactly
 * QEMU's environment (HOME and the XDG dirs in the runtime directory), stdin /dev/null and
 * the domain log as stdout and stderr and no other fd, no-new-privs, a session of its own,
 * the domain's cgroup joined before the exec, and QEMU's user and groups when @as_qemu.
 */
static VbQemuProcess *
launch_helper(VbDomainList *list, VbDomainObj *dom, const char *const *argv,
              const char *runtime_dir, int log_fd, gboolean as_qemu, GError **error)
{
    g_auto(GStrv) envp = vb_qemu_process_env(runtime_dir);
    VbQemuLaunchSpec spec = { 0 };

    spec.argv = argv;
    spec.envp = (const char *const *)envp;
    spec.log_fd = log_fd;
    if (as_qemu && list->qemu_ids.set_ids) {
        spec.set_ids = TRUE;
        spec.uid = list->qemu_ids.uid;
        spec.gid = list->qemu_ids.gid;
        spec.groups = list->qemu_ids.groups;
        spec.n_groups = list->qemu_ids.n_groups;
    }
    return vb_qemu_process_launch(&spec, helper_hook, dom, NULL, NULL, error);
}

/* swtpm_setup on the first start: the TPM's state with its EK and certificates. Through the
 * launcher as the service's user (swtpm_localca writes the service's CA), and waited for. */
static gboolean
setup_state(VbDomainList *list, VbDomainObj *dom, const VbQemuHelper *h, const char *name,
            const char *runtime_dir, int log_fd, GError **error)
{
    g_autoptr(VbQemuProcess) proc = NULL;
    int status = 0;

    if (h->setup_argv == NULL || g_file_test(h->state_file, G_FILE_TEST_EXISTS))
        return TRUE;
    if (g_mkdir_with_parents(h->state_dir, 0700) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create '%s': %s", h->state_dir,
                    g_strerror(errno));
        return FALSE;
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "creating the TPM state in %s", h->state_dir);
    proc = launch_helper(list, dom, (const char *const *)h->setup_argv, runtime_dir, log_fd,
                         FALSE, error);
    if (proc == NULL) {
        g_prefix_error(error, "swtpm_setup for %s: ", h->id);
        return FALSE;
    }
    if (!vb_qemu_process_wait(proc, SETUP_TIMEOUT_MS)) {
        vb_qemu_process_signal(proc, SIGKILL);
        vb_qemu_process_wait(proc, 5000);
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "swtpm_setup did not create the TPM state in '%s' within %d s; see '%s'",
                    h->state_dir, SETUP_TIMEOUT_MS / 1000, h->log_path);
        return FALSE;
    }
    vb_qemu_process_has_exited(proc, &status);
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                    "swtpm_setup failed to create the TPM state in '%s'; see '%s'",
                    h->state_dir, h->log_path);
        return FALSE;
    }
    return TRUE;
}

/* Waits until the helper made its socket; fails when it exits first. */
static gboolean
wait_socket(const VbQemuHelper *h, VbQemuProcess *proc, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + HELPER_SOCKET_TIMEOUT_MS * 1000;

    while (!g_file_test(h->socket, G_FILE_TEST_EXISTS)) {
        int status = 0;

        if (vb_qemu_process_has_exited(proc, &status)) {
            g_autofree char *how = vb_qemu_process_describe_status(status);

            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "%s for %s %s before making its "
                        "socket; see the domain log and '%s'",
                        vb_qemu_helper_kind_to_string(h->kind), h->id, how, h->log_path);
            return FALSE;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                        "%s for %s made no socket '%s' within %d ms",
                        vb_qemu_helper_kind_to_string(h->kind), h->id, h->socket,
                        HELPER_SOCKET_TIMEOUT_MS);
            return FALSE;
        }
        g_usleep(10 * 1000);
    }
    return TRUE;
}

/**
 * vb_domain_helpers_start:
 * @helpers: (element-type VbQemuHelper): what vb_qemu_helpers_plan() planned
 * @runtime_dir: the run's runtime directory (exists)
 * @log_fd: the domain log: the helpers' stdout and stderr
 *
 * Starts each helper, records it in @dom (and the status XML, so a service killed from
 * here on finds it), and waits for its socket. On failure the helpers started so far stay
 * recorded: the caller's rollback stops them (vb_domain_helpers_stop()). With the job held.
 */
gboolean
vb_domain_helpers_start(VbDomainList *list, VbDomainObj *dom, GPtrArray *helpers,
                        const char *runtime_dir, int log_fd, GError **error)
{
    g_autofree char *name = vb_domain_obj_get_name(dom);

    for (guint i = 0; helpers != NULL && i < helpers->len; i++) {
        const VbQemuHelper *h = g_ptr_array_index(helpers, i);
        VbDomainHelperRun *run;
        VbQemuProcess *proc;

        /* swtpm and passt run as QEMU's user; virtiofsd stays root (it takes the ids of
         * the files' owners), as libvirt runs it */
        gboolean as_qemu = h->kind != VB_QEMU_HELPER_VIRTIOFSD;
        g_auto(GStrv) argv = helper_argv(h, &list->qemu_ids, as_qemu);

        if (!setup_state(list, dom, h, name, runtime_dir, log_fd, error) ||
            (as_qemu && !vb_domain_dac_prepare_helper(list, h->state_dir, h->log_path, error)))
            return FALSE;
        g_unlink(h->socket);
        proc = launch_helper(list, dom, (const char *const *)argv, runtime_dir, log_fd,
                             as_qemu, error);
        if (proc == NULL) {
            g_prefix_error(error, "%s for %s: ", vb_qemu_helper_kind_to_string(h->kind),
                           h->id);
            return FALSE;
        }
        run = g_new0(VbDomainHelperRun, 1);
        run->kind = g_strdup(vb_qemu_helper_kind_to_string(h->kind));
        run->id = g_strdup(h->id);
        run->socket = g_strdup(h->socket);
        run->proc = proc;
        g_mutex_lock(&dom->lock);
        if (dom->helpers == NULL)
            dom->helpers = g_ptr_array_new_with_free_func(
                (GDestroyNotify)vb_domain_helper_run_free);
        g_ptr_array_add(dom->helpers, run);
        g_mutex_unlock(&dom->lock);
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "started %s for %s (pid %d)", run->kind,
                      run->id, (int)vb_qemu_process_get_pid(proc));
        if (!vb_domain_status_save(list, dom, error) || !wait_socket(h, proc, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_domain_helpers_stop:
 *
 * Stops every helper of @dom's run (SIGTERM, then SIGKILL) and forgets them. swtpm
 * (--terminate) and virtiofsd usually ended with their QEMU already. Worker threads, with
 * the job held (or at start-up).
 */
void
vb_domain_helpers_stop(VbDomainObj *dom)
{
    g_autoptr(GPtrArray) helpers = NULL;
    g_autofree char *name = vb_domain_obj_get_name(dom);

    g_mutex_lock(&dom->lock);
    helpers = g_steal_pointer(&dom->helpers);
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; helpers != NULL && i < helpers->len; i++) {
        VbDomainHelperRun *run = g_ptr_array_index(helpers, i);
        g_autoptr(GError) error = NULL;

        if (!vb_qemu_process_has_exited(run->proc, NULL) &&
            !vb_qemu_process_kill(run->proc, FALSE, HELPER_TERM_TIMEOUT_MS, &error))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "%s for %s: %s", run->kind, run->id,
                          error->message);
        g_unlink(run->socket);
    }
}

/**
 * vb_domain_helpers_detach:
 *
 * The service stops and leaves the helpers running with their QEMU: stop watching them.
 */
void
vb_domain_helpers_detach(VbDomainObj *dom)
{
    g_autoptr(GPtrArray) helpers = NULL;

    g_mutex_lock(&dom->lock);
    helpers = dom->helpers != NULL ? g_ptr_array_ref(dom->helpers) : NULL;
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; helpers != NULL && i < helpers->len; i++) {
        VbDomainHelperRun *run = g_ptr_array_index(helpers, i);

        vb_qemu_process_detach(run->proc);
    }
}

/**
 * vb_domain_helpers_format:
 *
 * The <helper> lines of the status XML. Under dom->lock.
 */
void
vb_domain_helpers_format(VbDomainObj *dom, GString *buf)
{
    for (guint i = 0; dom->helpers != NULL && i < dom->helpers->len; i++) {
        VbDomainHelperRun *run = g_ptr_array_index(dom->helpers, i);
        g_autofree char *kind = g_markup_escape_text(run->kind, -1);
        g_autofree char *id = g_markup_escape_text(run->id, -1);
        g_autofree char *sock = g_markup_escape_text(run->socket, -1);

        g_string_append_printf(buf, "  <helper kind='%s' id='%s' pid='%d' socket='%s'/>\n",
                               kind, id, (int)vb_qemu_process_get_pid(run->proc), sock);
    }
}

/**
 * vb_domain_helpers_adopt:
 * @kind, @id, @pid, @socket: one <helper> of a status XML
 * @runtime_dir: the run's runtime directory
 *
 * At start-up, for a run that is taken back: watches the helper again (pidfd) when the
 * process is still the one the run started, so its end of run stops it.
 */
void
vb_domain_helpers_adopt(VbDomainObj *dom, const char *kind, const char *id, pid_t pid,
                        const char *socket, const char *runtime_dir)
{
    g_autofree char *name = vb_domain_obj_get_name(dom);
    g_autoptr(GError) error = NULL;
    VbQemuProcess *proc = NULL;
    VbDomainHelperRun *run;

    if (pid <= 0 || runtime_dir == NULL || !vb_qemu_helper_is_ours(pid, runtime_dir) ||
        (proc = vb_qemu_process_attach(pid, NULL, NULL, &error)) == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "its %s for %s (pid %d) is gone", kind, id,
                      (int)pid);
        return;
    }
    run = g_new0(VbDomainHelperRun, 1);
    run->kind = g_strdup(kind);
    run->id = g_strdup(id);
    run->socket = g_strdup(socket);
    run->proc = proc;
    g_mutex_lock(&dom->lock);
    if (dom->helpers == NULL)
        dom->helpers = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_helper_run_free);
    g_ptr_array_add(dom->helpers, run);
    g_mutex_unlock(&dom->lock);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "took back its %s for %s (pid %d)", kind, id,
                  (int)pid);
}

/**
 * vb_domain_helpers_kill_leftovers:
 * @runtime_dir: the runtime directory of a run that is not taken back
 * @name: the domain's name, for the log
 *
 * Kills (SIGKILL through a pidfd, and waits) every swtpm, virtiofsd or passt whose command
 * line names a socket in @runtime_dir: the helpers of a start the service did not finish, or of
 * a run whose QEMU ended while the service was down, also one the status never recorded.
 *
 * Returns: how many were killed.
 */
guint
vb_domain_helpers_kill_leftovers(const char *runtime_dir, const char *name)
{
    g_autoptr(GDir) procdir = NULL;
    const char *entry;
    guint n = 0;

    if (runtime_dir == NULL || *runtime_dir == '\0' ||
        (procdir = g_dir_open("/proc", 0, NULL)) == NULL)
        return 0;
    while ((entry = g_dir_read_name(procdir)) != NULL) {
        gint64 pid = g_ascii_strtoll(entry, NULL, 10);
        int fd;
        struct pollfd pfd;

        if (pid <= 1 || pid > G_MAXINT || pid == getpid() ||
            !vb_qemu_helper_is_ours((pid_t)pid, runtime_dir))
            continue;
        fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (fd < 0)
            continue;
        /* checked again through the pidfd: the pid cannot be reused under us now */
        if (vb_qemu_helper_is_ours((pid_t)pid, runtime_dir) &&
            syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0) {
            pfd.fd = fd;
            pfd.events = POLLIN;
            if (poll(&pfd, 1, 5000) <= 0)
                VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "helper pid %d did not exit",
                              (int)pid);
            VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name, "killed the helper (pid %d) its run "
                          "left", (int)pid);
            n++;
        }
        close(fd);
    }
    return n;
}
