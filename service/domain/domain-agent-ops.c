/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "domain-agent.h"
#include "domain-def-guest.h"
#include "domain-def-priv.h" /* the channels of the live definition, on_poweroff */
#include "domain-list-priv.h"
#include "qemu-command.h"
#include "qemu-json-check.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * The guest agent on the bus (issue 13, part agent): its connected state, Shutdown and
 * Reboot through it, FSFreeze/FSThaw, GetFSInfo, time, host name, GetGuestInfo,
 * SetUserPassword and QemuAgentCommand. Every command runs under the domain's agent job
 * (domain-agent.c) on a worker, without the domain lock, bounded by agent_timeout;
 * see docs/agent.md.
 *
 * The connected state follows libvirt: the guest side of the virtio-serial port named
 * org.qemu.guest_agent.0 is open (qemu-ga runs). QEMU tells it with VSERPORT_CHANGE
 * (handled by the event worker with the domain's job) and query-chardev's frontend-open
 * (at start and when the service reconnects). The event names the port by its device id,
 * so a channel hot-plugged later is found in the live definition the same way.
 */

#define QMP_TIMEOUT_MS 30000
/* guest-shutdown has no reply on success: how long an error may take to come */
#define SHUTDOWN_ERROR_WAIT_MS 3000

/* Under lock: whether the device with QEMU id @id is the agent's channel. */
static gboolean
is_agent_port_locked(VbDomainObj *dom, const char *id, gboolean chardev)
{
    GPtrArray *devs = dom->def->priv->devices;

    for (guint i = 0; id != NULL && i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_autofree char *alias = NULL;

        if (dev->kind != VB_DEV_CHANNEL || g_strcmp0(dev->target_name, VB_AGENT_CHANNEL_NAME))
            continue;
        alias = vb_domain_def_device_alias(dom->def, dev);
        if (alias == NULL)
            continue;
        /* the chardev behind device "channel0" is "charchannel0" */
        if (chardev ? g_str_has_prefix(id, "char") && g_str_equal(id + 4, alias)
                    : g_str_equal(id, alias))
            return TRUE;
    }
    return FALSE;
}

/* Sets the state; publishes the property and AgentLifecycle when it changed. */
static void
set_connected(VbDomainList *list, VbDomainObj *dom, gboolean connected, guint reason)
{
    gboolean changed;
    g_autofree char *detail = NULL;

    g_mutex_lock(&dom->lock);
    changed = dom->agent_connected != connected;
    dom->agent_connected = connected;
    g_mutex_unlock(&dom->lock);
    if (!changed)
        return;
    vb_domain_obj_broadcast(dom);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "guest agent %s",
                  connected ? "connected" : "disconnected");
    detail = g_strdup_printf("%u %u", connected ? VB_AGENT_STATE_CONNECTED
                                                : VB_AGENT_STATE_DISCONNECTED, reason);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, VB_DOMAIN_AGENT_EVENT, detail);
}

/**
 * vb_domain_agent_vserport_event:
 * @data: the event's data: {"id": device id, "open": bool}
 *
 * VSERPORT_CHANGE: the guest opened or closed a virtio-serial port. Only the agent's
 * channel matters. Event worker, with the domain's job.
 */
void
vb_domain_agent_vserport_event(VbDomainList *list, VbDomainObj *dom, JsonObject *data)
{
    JsonNode *idn = data != NULL ? json_object_get_member(data, "id") : NULL;
    JsonNode *open = data != NULL ? json_object_get_member(data, "open") : NULL;
    const char *id;
    gboolean mine;

    if (idn == NULL || !JSON_NODE_HOLDS_VALUE(idn) ||
        json_node_get_value_type(idn) != G_TYPE_STRING || open == NULL ||
        !JSON_NODE_HOLDS_VALUE(open) || json_node_get_value_type(open) != G_TYPE_BOOLEAN)
        return;
    id = json_node_get_string(idn);
    g_mutex_lock(&dom->lock);
    mine = is_agent_port_locked(dom, id, FALSE);
    g_mutex_unlock(&dom->lock);
    if (mine)
        set_connected(list, dom, json_node_get_boolean(open), VB_AGENT_REASON_CHANNEL);
}

/**
 * vb_domain_agent_refresh:
 * @mon: (nullable): the monitor (the domain's when NULL)
 * @reason: the AgentLifecycle reason if the state changes
 *
 * Reads the agent channel's state from query-chardev (frontend-open of its chardev): at
 * the start of a run and when the service reconnects. Failures are logged only. Worker or
 * start-up thread holding the job (or before the domain is published).
 */
void
vb_domain_agent_refresh(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                        guint reason)
{
    g_autoptr(VbQemuMonitor) m = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) devs = NULL;
    gboolean open = FALSE;

    g_mutex_lock(&dom->lock);
    m = mon != NULL ? vb_qemu_monitor_ref(mon)
                    : dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (m == NULL)
        return;
    devs = vb_qemu_monitor_command(m, "query-chardev", NULL, QMP_TIMEOUT_MS, &error);
    if (devs == NULL || !JSON_NODE_HOLDS_ARRAY(devs)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot read the agent's state: %s",
                      error != NULL ? error->message : "query-chardev gave no array");
        return;
    }
    for (guint i = 0; i < json_array_get_length(json_node_get_array(devs)); i++) {
        JsonNode *e = json_array_get_element(json_node_get_array(devs), i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *label = o != NULL ? json_object_get_string_member_with_default(o, "label",
                                                                                   NULL)
                                      : NULL;
        gboolean mine;

        g_mutex_lock(&dom->lock);
        mine = is_agent_port_locked(dom, label, TRUE);
        g_mutex_unlock(&dom->lock);
        if (mine && json_object_get_boolean_member_with_default(o, "frontend-open", FALSE))
            open = TRUE;
    }
    set_connected(list, dom, open, reason);
}

/* ---- one agent session: the job, a connection, sync before each command ---- */

/**
 * vb_agent_session_begin:
 * @timeout_ms: for the whole session; 0: the service's agent_timeout
 *
 * Takes the domain's agent job and connects to its agent. Worker threads.
 */
gboolean
vb_agent_session_begin(VbAgentSession *s, VbDomainList *list, VbDomainObj *dom,
                       const char *method, const char *owner, guint timeout_ms,
                       GError **error)
{
    g_autofree char *path = NULL;

    memset(s, 0, sizeof(*s));
    path = vb_domain_agent_begin(list, dom, method, owner, &s->name, error);
    if (path == NULL)
        return FALSE;
    s->list = list;
    s->dom = dom;
    s->deadline = g_get_monotonic_time() +
                  (gint64)(timeout_ms != 0 ? timeout_ms : list->config->agent_timeout * 1000) *
                      1000;
    s->agent = vb_qemu_agent_open(path, error);
    if (s->agent == NULL) {
        g_prefix_error(error, "domain '%s': ", s->name);
        g_clear_pointer(&s->name, g_free);
        vb_domain_agent_job_end(dom);
        return FALSE;
    }
    return TRUE;
}

void
vb_agent_session_end(VbAgentSession *s)
{
    g_clear_pointer(&s->agent, vb_qemu_agent_free);
    g_clear_pointer(&s->name, g_free);
    if (s->dom != NULL)
        vb_domain_agent_job_end(s->dom);
    s->dom = NULL;
}

/* One command of the session (sync first); @args: (transfer full) (nullable). */
JsonNode *
vb_agent_session_run(VbAgentSession *s, const char *command, JsonObject *args, GError **error)
{
    JsonNode *ret = NULL;

    /* @args: (transfer full) */
    g_debug("domain '%s': agent command %s", s->name, command);
    if (vb_qemu_agent_sync(s->agent, s->deadline, error))
        ret = vb_qemu_agent_command(s->agent, command, args, s->deadline, error);
    if (args != NULL)
        json_object_unref(args);
    if (ret == NULL)
        g_prefix_error(error, "domain '%s': ", s->name);
    return ret;
}

/* A whole session for one command. */
static JsonNode *
run_one(VbDomainList *list, VbDomainObj *dom, const char *method, const char *owner,
        const char *command, JsonObject *args, GError **error)
{
    VbAgentSession s;
    JsonNode *ret;

    if (!vb_agent_session_begin(&s, list, dom, method, owner, 0, error)) {
        if (args != NULL)
            json_object_unref(args);
        return NULL;
    }
    ret = vb_agent_session_run(&s, command, args, error);
    vb_agent_session_end(&s);
    return ret;
}

/* ---- Shutdown and Reboot ---- */

static gboolean
shutdown_agent(VbDomainList *list, VbDomainObj *dom, gboolean reboot, const char *method,
               const char *owner, GError **error)
{
    VbAgentSession s;
    JsonObject *args;
    gboolean ok;

    if (!vb_agent_session_begin(&s, list, dom, method, owner, 0, error))
        return FALSE;
    /* as libvirt: the guest reboots by itself, so no fake reboot is pending */
    g_mutex_lock(&dom->lock);
    dom->fake_reboot = FALSE;
    g_mutex_unlock(&dom->lock);
    ok = vb_qemu_agent_sync(s.agent, s.deadline, error);
    if (ok) {
        args = json_object_new();
        json_object_set_string_member(args, "mode", reboot ? "reboot" : "powerdown");
        ok = vb_qemu_agent_command_noreply(
            s.agent, "guest-shutdown", args,
            MIN(s.deadline, g_get_monotonic_time() + SHUTDOWN_ERROR_WAIT_MS * 1000), error);
        json_object_unref(args);
    }
    if (!ok)
        g_prefix_error(error, "domain '%s': ", s.name);
    vb_agent_session_end(&s);
    return ok;
}

/* Under lock: libvirt's priv->agent (the agent is there to be asked). */
static gboolean
agent_usable(VbDomainObj *dom)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);
    g_autofree char *path = NULL;

    if (!dom->agent_connected)
        return FALSE;
    path = vb_domain_def_find_agent_socket(dom->def, dom->runtime_dir, NULL);
    return path != NULL;
}

/**
 * vb_domain_shutdown_flags:
 * @flags: 0, ACPI_POWER_BTN (1), GUEST_AGENT (2) or both
 * @reboot: Reboot rather than Shutdown
 *
 * libvirt's qemuDomainShutdownFlags / qemuDomainReboot: GUEST_AGENT asks qemu-ga
 * (guest-shutdown), 0 asks it when it is connected and presses the ACPI button otherwise;
 * with both flags (or 0) an agent failure falls back to the button. A Shutdown of a
 * domain whose on_poweroff is restart reboots it. Worker threads.
 */
gboolean
vb_domain_shutdown_flags(VbDomainList *list, VbDomainObj *dom, guint flags, gboolean reboot,
                         const char *owner, GError **error)
{
    const char *method = reboot ? "Reboot" : "Shutdown";
    gboolean agent_requested = (flags & VB_POWER_GUEST_AGENT) != 0;
    gboolean acpi_requested = (flags & VB_POWER_ACPI_POWER_BTN) != 0;
    gboolean agent_forced = agent_requested && !acpi_requested;
    gboolean use_agent = agent_requested || (flags == 0 && agent_usable(dom));
    gboolean as_reboot = reboot;
    g_autoptr(GError) agent_err = NULL;

    if (!reboot) {
        g_mutex_lock(&dom->lock);
        as_reboot = dom->def->priv->on_poweroff == VB_LIFECYCLE_RESTART ||
                    dom->def->priv->on_poweroff == VB_LIFECYCLE_RENAME_RESTART;
        g_mutex_unlock(&dom->lock);
    }
    if (use_agent) {
        if (shutdown_agent(list, dom, as_reboot, method, owner, &agent_err))
            return TRUE;
        if (agent_forced) {
            g_propagate_error(error, g_steal_pointer(&agent_err));
            return FALSE;
        }
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "%s through the agent failed (%s); "
                      "pressing the ACPI power button", method, agent_err->message);
        /* the guest may have gone meanwhile: nothing left to do */
        if (!vb_domain_obj_is_active(dom))
            return TRUE;
    }
    return reboot ? vb_domain_reboot(list, dom, owner, error)
                  : vb_domain_shutdown(list, dom, owner, error);
}

/* ---- file systems ---- */

static JsonObject *
mountpoints_args(const char *const *mountpoints)
{
    JsonObject *args;
    JsonArray *arr;

    if (mountpoints == NULL || mountpoints[0] == NULL)
        return NULL;
    args = json_object_new();
    arr = json_array_new();
    for (guint i = 0; mountpoints[i] != NULL; i++)
        json_array_add_string_element(arr, mountpoints[i]);
    json_object_set_array_member(args, "mountpoints", arr);
    return args;
}

static int
count_reply(JsonNode *ret, const char *command, GError **error)
{
    if (ret == NULL)
        return -1;
    if (!JSON_NODE_HOLDS_VALUE(ret) || json_node_get_value_type(ret) != G_TYPE_INT64 ||
        json_node_get_int(ret) < 0 || json_node_get_int(ret) > G_MAXINT) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "QEMU guest agent sent a malformed reply to '%s': not a count", command);
        return -1;
    }
    return (int)json_node_get_int(ret);
}

static void
set_frozen(VbDomainList *list, VbDomainObj *dom, gboolean frozen)
{
    gboolean changed;

    g_mutex_lock(&dom->lock);
    changed = dom->agent_frozen != frozen;
    dom->agent_frozen = frozen;
    g_mutex_unlock(&dom->lock);
    if (changed)
        vb_domain_status_save(list, dom, NULL);
}

/* With the session: thaw everything, logging a failure (error paths, reconnect). */
static void
thaw_quietly(VbAgentSession *s)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = NULL;

    /* a fresh budget: the command that failed may have used the session's */
    s->deadline = g_get_monotonic_time() + (gint64)s->list->config->agent_timeout *
                                               G_USEC_PER_SEC;
    r = vb_agent_session_run(s, "guest-fsfreeze-thaw", NULL, &err);
    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, s->dom->uuid_str,
                      "cannot thaw the guest's file systems: %s", err->message);
    else
        set_frozen(s->list, s->dom, FALSE);
}

/**
 * vb_domain_agent_freeze:
 * @mountpoints: (nullable): the mount points to freeze; NULL or empty: all
 * @owner: (nullable): the caller's bus name
 *
 * FSFreeze, and the helper a snapshot uses before it copies disks: guest-fsfreeze-freeze
 * (or -freeze-list). The domain records that it is frozen (status XML) until
 * vb_domain_agent_thaw(); when the freeze fails half-way (timeout, channel lost) the
 * guest is thawed at once, and a restarted service thaws it at reconnect. Worker threads.
 *
 * Returns: how many file systems were frozen, or -1 with an error
 */
int
vb_domain_agent_freeze(VbDomainList *list, VbDomainObj *dom, const char *const *mountpoints,
                       const char *owner, GError **error)
{
    JsonObject *args = mountpoints_args(mountpoints);
    const char *cmd = args != NULL ? "guest-fsfreeze-freeze-list" : "guest-fsfreeze-freeze";
    g_autoptr(JsonNode) ret = NULL;
    gboolean was_frozen;
    VbAgentSession s;
    int n;

    if (!vb_agent_session_begin(&s, list, dom, "FSFreeze", owner, 0, error)) {
        if (args != NULL)
            json_object_unref(args);
        return -1;
    }
    g_mutex_lock(&dom->lock);
    was_frozen = dom->agent_frozen;
    g_mutex_unlock(&dom->lock);
    /* recorded before: a service killed while the command runs thaws at reconnect */
    set_frozen(list, dom, TRUE);
    ret = vb_agent_session_run(&s, cmd, args, error);
    n = count_reply(ret, cmd, error);
    if (n < 0) {
        /* qemu-ga thaws by itself when the freeze fails; after a timeout or a malformed
         * reply the state is unknown: thaw (libvirt thaws when the job that froze fails) */
        if (ret != NULL || !g_error_matches(*error, VB_ERROR, VB_ERROR_AGENT_COMMAND) ||
            g_str_has_prefix((*error)->message, "QEMU guest agent sent a malformed"))
            thaw_quietly(&s);
        else
            set_frozen(list, dom, was_frozen); /* qemu-ga refused: nothing changed */
    }
    vb_agent_session_end(&s);
    return n;
}

/**
 * vb_domain_agent_thaw:
 * @mountpoints: must be NULL or empty (qemu-ga thaws all file systems)
 *
 * FSThaw (guest-fsfreeze-thaw). Worker threads.
 *
 * Returns: how many file systems were thawed, or -1 with an error
 */
int
vb_domain_agent_thaw(VbDomainList *list, VbDomainObj *dom, const char *const *mountpoints,
                     const char *owner, GError **error)
{
    g_autoptr(JsonNode) ret = NULL;
    int n;

    if (mountpoints != NULL && mountpoints[0] != NULL) {
        /* libvirt refuses them too: qemu-ga has no thaw by mount point */
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "FSThaw: specifying mountpoints is not supported; pass an empty "
                            "list (all file systems are thawed)");
        return -1;
    }
    ret = run_one(list, dom, "FSThaw", owner, "guest-fsfreeze-thaw", NULL, error);
    n = count_reply(ret, "guest-fsfreeze-thaw", error);
    if (n >= 0)
        set_frozen(list, dom, FALSE);
    return n;
}

/**
 * vb_domain_agent_thaw_if_frozen:
 *
 * Queues a thaw of a guest an FSFreeze left frozen (the status file said so) to the
 * domain's event worker, so that the start-up of the service does not wait for the
 * guest. Start-up thread.
 */
void
vb_domain_agent_thaw_if_frozen(VbDomainList *list, VbDomainObj *dom)
{
    VbDomainEvent *ev = g_new0(VbDomainEvent, 1);

    ev->name = g_strdup(VB_DOMAIN_AGENT_THAW_EVENT);
    g_mutex_lock(&dom->lock);
    ev->run = dom->run;
    g_mutex_unlock(&dom->lock);
    ev->timestamp = g_get_real_time();
    vb_domain_events_queue(list, dom, ev);
}

/**
 * vb_domain_agent_thaw_now:
 *
 * The event worker's side of vb_domain_agent_thaw_if_frozen(): thaws under the agent job
 * (no sync job: a guest that does not answer holds up no other event for long). An agent
 * that is not connected gets no thaw (logged: FSThaw is the way then).
 */
void
vb_domain_agent_thaw_now(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(GError) err = NULL;
    VbAgentSession s;

    /* no wait for a VSERPORT_CHANGE here: it would queue behind this very task; the
     * state was read from query-chardev at reconnect */
    if (!vb_agent_session_begin(&s, list, dom, "reconnect", NULL, 0, &err)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "the guest's file systems were frozen when the service stopped and "
                      "cannot be thawed now: %s; call FSThaw", err->message);
        return;
    }
    thaw_quietly(&s);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                  "thawed the guest's file systems an FSFreeze left frozen");
    vb_agent_session_end(&s);
}

/* Under lock: the target of the domain's disk at @a (libvirt's virDomainDiskByAddress):
 * a virtio disk by its PCI address, a SCSI/SATA/IDE one by its drive address. */
static const char *
disk_target_locked(VbDomainObj *dom, const char *bus_type, const VbGuestDiskAddr *a)
{
    GPtrArray *devs = dom->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const VbDeviceAddress *d = &dev->addr;

        if (dev->kind != VB_DEV_DISK || dev->target_dev == NULL)
            continue;
        if (g_strcmp0(bus_type, "virtio") == 0 && a->has_pci && d->type == VB_ADDR_PCI &&
            d->domain == a->pci_domain && d->bus == a->pci_bus && d->slot == a->pci_slot &&
            d->function == a->pci_function)
            return dev->target_dev;
        if ((g_strcmp0(bus_type, "scsi") == 0 || g_strcmp0(bus_type, "sata") == 0 ||
             g_strcmp0(bus_type, "ide") == 0) &&
            d->type == VB_ADDR_DRIVE && d->bus == a->bus && d->target == a->target &&
            d->unit == a->unit)
            return dev->target_dev;
    }
    return NULL;
}

/* Per file system, its disks' targets in the domain ("" when none matched). */
static GStrv *
fs_aliases(VbDomainObj *dom, GPtrArray *fss)
{
    GStrv *out = g_new0(GStrv, fss->len + 1);
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    for (guint i = 0; i < fss->len; i++) {
        const VbGuestFS *fs = g_ptr_array_index(fss, i);
        guint n = g_strv_length(fs->devices);

        out[i] = g_new0(char *, n + 1);
        for (guint j = 0; j < n; j++) {
            const char *t = disk_target_locked(dom, fs->buses[j],
                                               &g_array_index(fs->addrs, VbGuestDiskAddr, j));

            out[i][j] = g_strdup(t != NULL ? t : "");
        }
    }
    return out;
}

static void
fs_aliases_free(GStrv *aliases)
{
    for (guint i = 0; aliases != NULL && aliases[i] != NULL; i++)
        g_strfreev(aliases[i]);
    g_free(aliases);
}

/**
 * vb_domain_agent_fsinfo:
 * @out_aliases: (out) (transfer full): per file system, its disks' targets in the domain
 *   ("vda"; "" when the guest's disk matches none), free with vb_domain_agent_aliases_free()
 *
 * GetFSInfo (guest-get-fsinfo). The guest's disks are matched to the domain's by address,
 * as libvirt does (virtio: PCI address; SCSI, SATA, IDE: bus, target, unit). Worker threads.
 *
 * Returns: (transfer full) (element-type VbGuestFS) (nullable): the file systems
 */
GPtrArray *
vb_domain_agent_fsinfo(VbDomainList *list, VbDomainObj *dom, const char *owner,
                       GStrv **out_aliases, GError **error)
{
    g_autoptr(JsonNode) ret = run_one(list, dom, "GetFSInfo", owner, "guest-get-fsinfo",
                                      NULL, error);
    GPtrArray *fss = ret != NULL ? vb_qemu_agent_parse_fsinfo(ret, error) : NULL;

    if (fss != NULL)
        *out_aliases = fs_aliases(dom, fss);
    return fss;
}

/* vb_domain_agent_aliases_free: frees vb_domain_agent_fsinfo()'s @out_aliases. */
void
vb_domain_agent_aliases_free(GStrv *aliases)
{
    fs_aliases_free(aliases);
}

/* ---- time, host name, password ---- */

/* GetTime (guest-get-time). Worker threads. */
gboolean
vb_domain_agent_get_time(VbDomainList *list, VbDomainObj *dom, const char *owner,
                         gint64 *out_seconds, guint *out_nseconds, GError **error)
{
    g_autoptr(JsonNode) ret = run_one(list, dom, "GetTime", owner, "guest-get-time", NULL,
                                      error);

    return ret != NULL && vb_qemu_agent_parse_time(ret, out_seconds, out_nseconds, error);
}

/**
 * vb_domain_agent_set_time:
 * @sync: libvirt's VIR_DOMAIN_TIME_SYNC: the guest sets its clock from its RTC
 *   (guest-set-time without a time); @seconds and @nseconds are ignored then
 *
 * SetTime. Worker threads.
 */
gboolean
vb_domain_agent_set_time(VbDomainList *list, VbDomainObj *dom, gint64 seconds,
                         guint nseconds, gboolean sync, const char *owner, GError **error)
{
    JsonObject *args = NULL;
    g_autoptr(JsonNode) ret = NULL;

    if (!sync) {
        /* libvirt's bounds: the nanoseconds since the epoch must fit an int64 */
        if (nseconds > 999999999) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "SetTime: nseconds %u is out of range (0..999999999)", nseconds);
            return FALSE;
        }
        if (seconds < 0 || seconds > G_MAXINT64 / 1000000000 - 1) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "SetTime: seconds %" G_GINT64_FORMAT " is out of range", seconds);
            return FALSE;
        }
        args = json_object_new();
        json_object_set_int_member(args, "time", seconds * 1000000000 + nseconds);
    }
    ret = run_one(list, dom, "SetTime", owner, "guest-set-time", args, error);
    return ret != NULL;
}

/* GetHostname (guest-get-host-name). Worker threads. */
char *
vb_domain_agent_hostname(VbDomainList *list, VbDomainObj *dom, const char *owner,
                         GError **error)
{
    g_autoptr(JsonNode) ret = run_one(list, dom, "GetHostname", owner, "guest-get-host-name",
                                      NULL, error);

    return ret != NULL ? vb_qemu_agent_parse_host_name(ret, error) : NULL;
}

/**
 * vb_domain_agent_set_password:
 * @crypted: libvirt's VIR_DOMAIN_PASSWORD_ENCRYPTED: @password is already a crypt(3) hash
 *
 * SetUserPassword (guest-set-user-password; qemu-ga wants the password base64-encoded).
 * The password is never logged. Worker threads.
 */
gboolean
vb_domain_agent_set_password(VbDomainList *list, VbDomainObj *dom, const char *user,
                             const char *password, gboolean crypted, const char *owner,
                             GError **error)
{
    JsonObject *args;
    g_autofree char *b64 = NULL;
    g_autoptr(JsonNode) ret = NULL;

    if (*user == '\0') {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "SetUserPassword: the user name is empty");
        return FALSE;
    }
    b64 = g_base64_encode((const guchar *)password, strlen(password));
    args = json_object_new();
    json_object_set_string_member(args, "username", user);
    json_object_set_string_member(args, "password", b64);
    json_object_set_boolean_member(args, "crypted", crypted);
    ret = run_one(list, dom, "SetUserPassword", owner, "guest-set-user-password", args, error);
    return ret != NULL;
}

/* ---- GetGuestInfo ---- */

/* An agent that lacks a command (older qemu-ga, disabled with --blacklist, another OS):
 * libvirt leaves that group out instead of failing the call. */
static gboolean
is_unsupported(const GError *err)
{
    return err != NULL && err->domain == VB_ERROR && err->code == VB_ERROR_AGENT_COMMAND &&
           (strstr(err->message, "CommandNotFound") != NULL ||
            strstr(err->message, "not currently supported") != NULL ||
            strstr(err->message, "has been disabled") != NULL);
}

typedef gboolean (*InfoFunc)(JsonNode *ret, GVariantDict *d, GError **error);

static gboolean
info_hostname(JsonNode *ret, GVariantDict *d, GError **error)
{
    g_autofree char *h = vb_qemu_agent_parse_host_name(ret, error);

    if (h == NULL)
        return FALSE;
    g_variant_dict_insert(d, "hostname", "s", h);
    return TRUE;
}

static gboolean
info_fs(VbDomainObj *dom, JsonNode *ret, GVariantDict *d, GError **error)
{
    g_autoptr(GPtrArray) fss = vb_qemu_agent_parse_fsinfo(ret, error);
    GStrv *aliases;

    if (fss == NULL)
        return FALSE;
    aliases = fs_aliases(dom, fss);
    vb_qemu_agent_info_fs(fss, aliases, d);
    fs_aliases_free(aliases);
    return TRUE;
}

/* DISKS: libvirt's qemuAgentDiskInfoFormatParams (disk.count, disk.N.name, .partition,
 * .dependency.count, .dependency.M.name, .serial, .alias, .guest_alias) */
static gboolean
info_disks(VbDomainObj *dom, JsonNode *ret, GVariantDict *d, GError **error)
{
    g_autoptr(GPtrArray) disks = vb_qemu_agent_parse_disks(ret, error);

    if (disks == NULL)
        return FALSE;
    g_variant_dict_insert(d, "disk.count", "u", disks->len);
    for (guint i = 0; i < disks->len; i++) {
        const VbGuestDisk *gd = g_ptr_array_index(disks, i);
        guint ndeps = gd->dependencies != NULL ? g_strv_length(gd->dependencies) : 0;
        g_autofree char *k = g_strdup_printf("disk.%u.name", i);

        g_variant_dict_insert(d, k, "s", gd->name);
        g_free(k);
        k = g_strdup_printf("disk.%u.partition", i);
        g_variant_dict_insert(d, k, "b", gd->partition);
        if (ndeps > 0) {
            g_free(k);
            k = g_strdup_printf("disk.%u.dependency.count", i);
            g_variant_dict_insert(d, k, "u", ndeps);
        }
        for (guint j = 0; j < ndeps; j++) {
            g_free(k);
            k = g_strdup_printf("disk.%u.dependency.%u.name", i, j);
            g_variant_dict_insert(d, k, "s", gd->dependencies[j]);
        }
        if (gd->has_address) {
            const char *target;

            if (gd->serial != NULL) {
                g_free(k);
                k = g_strdup_printf("disk.%u.serial", i);
                g_variant_dict_insert(d, k, "s", gd->serial);
            }
            g_mutex_lock(&dom->lock);
            target = disk_target_locked(dom, gd->bus_type, &gd->addr);
            if (target != NULL) {
                g_free(k);
                k = g_strdup_printf("disk.%u.alias", i);
                g_variant_dict_insert(d, k, "s", target);
            }
            g_mutex_unlock(&dom->lock);
        }
        if (gd->alias != NULL) {
            g_free(k);
            k = g_strdup_printf("disk.%u.guest_alias", i);
            g_variant_dict_insert(d, k, "s", gd->alias);
        }
    }
    return TRUE;
}

static gboolean
info_interfaces(JsonNode *ret, GVariantDict *d, GError **error)
{
    g_autoptr(GPtrArray) ifaces = vb_qemu_agent_parse_interfaces(ret, error);

    if (ifaces == NULL)
        return FALSE;
    g_variant_dict_insert(d, "if.count", "u", ifaces->len);
    for (guint i = 0; i < ifaces->len; i++) {
        const VbGuestInterface *gi = g_ptr_array_index(ifaces, i);
        g_autofree char *k = g_strdup_printf("if.%u.name", i);

        g_variant_dict_insert(d, k, "s", gi->name != NULL ? gi->name : "");
        if (gi->hwaddr != NULL) {
            g_free(k);
            k = g_strdup_printf("if.%u.hwaddr", i);
            g_variant_dict_insert(d, k, "s", gi->hwaddr);
        }
        g_free(k);
        k = g_strdup_printf("if.%u.addr.count", i);
        g_variant_dict_insert(d, k, "u", gi->addrs->len);
        for (guint j = 0; j < gi->addrs->len; j++) {
            const VbGuestIPAddress *a = &g_array_index(gi->addrs, VbGuestIPAddress, j);

            g_free(k);
            k = g_strdup_printf("if.%u.addr.%u.type", i, j);
            g_variant_dict_insert(d, k, "s", a->type == 0 ? "ipv4" : "ipv6");
            g_free(k);
            k = g_strdup_printf("if.%u.addr.%u.addr", i, j);
            g_variant_dict_insert(d, k, "s", a->addr);
            g_free(k);
            k = g_strdup_printf("if.%u.addr.%u.prefix", i, j);
            g_variant_dict_insert(d, k, "u", a->prefix);
        }
    }
    return TRUE;
}

static const struct {
    guint type;
    const char *command;
    InfoFunc func;
} info_groups[] = {
    { VB_GUEST_INFO_USERS, "guest-get-users", vb_qemu_agent_info_users },
    { VB_GUEST_INFO_OS, "guest-get-osinfo", vb_qemu_agent_info_os },
    { VB_GUEST_INFO_TIMEZONE, "guest-get-timezone", vb_qemu_agent_info_timezone },
    { VB_GUEST_INFO_HOSTNAME, "guest-get-host-name", info_hostname },
    { VB_GUEST_INFO_FILESYSTEM, "guest-get-fsinfo", NULL },
    { VB_GUEST_INFO_DISKS, "guest-get-disks", NULL },
    { VB_GUEST_INFO_INTERFACES, "guest-network-get-interfaces", info_interfaces },
};

#define GUEST_INFO_KNOWN (VB_GUEST_INFO_USERS | VB_GUEST_INFO_OS | VB_GUEST_INFO_TIMEZONE | \
                          VB_GUEST_INFO_HOSTNAME | VB_GUEST_INFO_FILESYSTEM | \
                          VB_GUEST_INFO_DISKS | VB_GUEST_INFO_INTERFACES)

/**
 * vb_domain_agent_guest_info:
 * @types: VB_GUEST_INFO_* bits; 0 for every group
 *
 * GetGuestInfo, libvirt's virDomainGetGuestInfo with its typed-parameter names, in one
 * agent job. A group the guest's agent lacks is left out (libvirt does so). Worker
 * threads.
 *
 * Returns: (transfer full) (nullable): an a{sv}
 */
GVariant *
vb_domain_agent_guest_info(VbDomainList *list, VbDomainObj *dom, guint types,
                           const char *owner, GError **error)
{
    g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(NULL);
    VbAgentSession s;

    if (types & ~GUEST_INFO_KNOWN) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "GetGuestInfo: unknown types 0x%x", types & ~GUEST_INFO_KNOWN);
        return NULL;
    }
    if (!vb_agent_session_begin(&s, list, dom, "GetGuestInfo", owner, 0, error))
        return NULL;
    for (guint i = 0; i < G_N_ELEMENTS(info_groups); i++) {
        g_autoptr(JsonNode) ret = NULL;
        g_autoptr(GError) err = NULL;

        if (types != 0 && !(types & info_groups[i].type))
            continue;
        ret = vb_agent_session_run(&s, info_groups[i].command, NULL, &err);
        if (ret == NULL && is_unsupported(err))
            continue;
        if (ret == NULL ||
            !(info_groups[i].func != NULL ? info_groups[i].func(ret, &d, &err)
              : info_groups[i].type == VB_GUEST_INFO_DISKS ? info_disks(dom, ret, &d, &err)
                                                            : info_fs(dom, ret, &d, &err))) {
            g_propagate_error(error, g_steal_pointer(&err));
            vb_agent_session_end(&s);
            return NULL;
        }
    }
    vb_agent_session_end(&s);
    return g_variant_ref_sink(g_variant_dict_end(&d));
}

/* ---- QemuAgentCommand ---- */

static void
taint(VbDomainList *list, VbDomainObj *dom, const char *owner)
{
    g_autofree char *name = NULL;
    g_autofree char *line = NULL;
    gboolean newly;

    g_mutex_lock(&dom->lock);
    newly = !(dom->taint & VB_TAINT_CUSTOM_GA_COMMAND);
    dom->taint |= VB_TAINT_CUSTOM_GA_COMMAND;
    name = g_strdup(dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (!newly)
        return;
    line = g_strdup_printf("Domain is tainted: custom-ga-command (raw guest agent command "
                           "from %s)", owner != NULL ? owner : "internal");
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name, "%s", line);
    vb_domain_log_append(list, name, line);
    vb_domain_status_save(list, dom, NULL);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
}

/**
 * vb_domain_qemu_agent_command:
 * @json: a guest agent command as JSON text ({"execute": ..., "arguments": ...})
 * @timeout: libvirt's: -2 BLOCK (here: at most VB_AGENT_BLOCK_MAX_S), -1 DEFAULT
 *   (agent_timeout), 0 NOWAIT (sent, not waited for: returns ""), > 0 seconds
 *
 * Passes a raw command to qemu-ga and taints the domain (custom-ga-command). A command
 * that is not strict JSON, not an object with "execute" or nested too deep fails with
 * InvalidArgument before anything else (no job, no taint). Worker threads.
 *
 * Returns: (transfer full) (nullable): the agent's whole reply as JSON text
 */
char *
vb_domain_qemu_agent_command(VbDomainList *list, VbDomainObj *dom, const char *json,
                             int timeout, const char *owner, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;
    JsonNode *root, *exec;
    guint timeout_ms;
    char *reply;
    VbAgentSession s;

    if (timeout < VB_AGENT_TIMEOUT_BLOCK) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "QemuAgentCommand: timeout %d is invalid (-2 block, -1 default, 0 no "
                    "wait, or seconds)", timeout);
        return NULL;
    }
    if (vb_qemu_json_check(json, strlen(json), VB_QEMU_JSON_MAX_DEPTH, NULL) !=
            VB_QEMU_JSON_CHECK_OK ||
        !json_parser_load_from_data(parser, json, -1, NULL) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root) ||
        (exec = json_object_get_member(json_node_get_object(root), "execute")) == NULL ||
        !JSON_NODE_HOLDS_VALUE(exec) || json_node_get_value_type(exec) != G_TYPE_STRING) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "QemuAgentCommand: the command must be a JSON object with "
                            "\"execute\" (strict JSON)");
        return NULL;
    }
    /* one line on the wire, whatever the caller's layout */
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    timeout_ms = timeout == VB_AGENT_TIMEOUT_BLOCK ? VB_AGENT_BLOCK_MAX_S * 1000
                 : timeout == VB_AGENT_TIMEOUT_DEFAULT || timeout == VB_AGENT_TIMEOUT_NOWAIT
                     ? 0
                     : (guint)MIN(timeout, VB_AGENT_BLOCK_MAX_S) * 1000;
    if (!vb_agent_session_begin(&s, list, dom, "QemuAgentCommand", owner, timeout_ms, error))
        return NULL;
    taint(list, dom, owner);
    reply = vb_qemu_agent_sync(s.agent, s.deadline, error)
                ? vb_qemu_agent_command_text(s.agent, text,
                                             timeout == VB_AGENT_TIMEOUT_NOWAIT ? 0
                                                                                : s.deadline,
                                             error)
                : NULL;
    if (reply == NULL)
        g_prefix_error(error, "domain '%s': ", s.name);
    vb_agent_session_end(&s);
    return reply;
}
