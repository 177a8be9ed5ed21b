/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "domain-agent.h"
#include "domain-def-priv.h" /* the kept <pm> element */
#include "domain-guest2.h"
#include "domain-list-priv.h"
#include "qemu-agent.h"
#include "qemu-monitor.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Guest agent calls and guest power management (issue 13, part guest2): FSTrim,
 * GetGuestVcpus/SetGuestVcpus, SetVcpus GUEST, PMSuspendForDuration and PMWakeup, with
 * libvirt's checks (qemuDomainFSTrim, qemuDomainGetGuestVcpus, qemuDomainSetGuestVcpus,
 * qemuDomainSetVcpusAgent, qemuDomainPMSuspendForDuration, qemuDomainPMWakeup). Agent
 * calls hold the domain's agent job (domain-agent.c), monitor calls the domain's job; no
 * lock is held across I/O. Worker threads.
 */

#define QMP_TIMEOUT_MS 30000
/* guest-suspend-* has no reply on success: how long an error may take to come */
#define SUSPEND_ERROR_WAIT_MS 3000
/* libvirt's QEMU_GUEST_VCPU_MAX_ID */
#define GUEST_VCPU_MAX_ID 4096

/* ---- FSTrim ---- */

/**
 * vb_domain_fstrim:
 * @mountpoint: (nullable): must be NULL or empty (libvirt: "not supported for now")
 * @minimum: bytes; ranges shorter than this are not trimmed
 *
 * virDomainFSTrim: guest-fstrim of every mounted file system. Worker threads.
 */
gboolean
vb_domain_fstrim(VbDomainList *list, VbDomainObj *dom, const char *mountpoint, guint64 minimum,
                 const char *owner, GError **error)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonObject *args = NULL;

    if (mountpoint != NULL && *mountpoint != '\0') {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "FSTrim: specifying a mount point is not supported (as libvirt); give an "
                    "empty string to trim every mounted file system");
        return FALSE;
    }
    if (minimum > G_MAXINT64) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "FSTrim: minimum out of range");
        return FALSE;
    }
    if (minimum != 0) {
        args = json_object_new();
        json_object_set_int_member(args, "minimum", (gint64)minimum);
    }
    ret = vb_domain_agent_command(list, dom, "FSTrim", owner, "guest-fstrim", args, error);
    if (args != NULL)
        json_object_unref(args);
    return ret != NULL;
}

/* ---- guest vCPUs ---- */

typedef struct {
    guint id;
    gboolean online;
    gboolean offlinable;
    gboolean modified;
} GuestCpu;

/* guest-get-vcpus: [{"logical-id": N, "online": b, "can-offline": b}, ...] */
static GArray *
parse_vcpus(JsonNode *ret, GError **error)
{
    g_autoptr(GArray) cpus = g_array_new(FALSE, TRUE, sizeof(GuestCpu));
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;

    if (a == NULL || json_array_get_length(a) == 0)
        goto bad;
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonNode *id = o != NULL ? json_object_get_member(o, "logical-id") : NULL;
        JsonNode *on = o != NULL ? json_object_get_member(o, "online") : NULL;
        GuestCpu c = {0};

        if (id == NULL || !JSON_NODE_HOLDS_VALUE(id) ||
            json_node_get_value_type(id) != G_TYPE_INT64 || json_node_get_int(id) < 0 ||
            json_node_get_int(id) >= GUEST_VCPU_MAX_ID || on == NULL ||
            !JSON_NODE_HOLDS_VALUE(on) || json_node_get_value_type(on) != G_TYPE_BOOLEAN)
            goto bad;
        c.id = (guint)json_node_get_int(id);
        c.online = json_node_get_boolean(on);
        c.offlinable = json_object_get_boolean_member_with_default(o, "can-offline", FALSE);
        g_array_append_val(cpus, c);
    }
    return g_steal_pointer(&cpus);
bad:
    g_set_error_literal(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                        "the guest agent's guest-get-vcpus reply is malformed");
    return NULL;
}

/* libvirt's virBitmapFormat: "0-3,5" ("" when empty) */
static char *
format_cpulist(const gboolean *bits, guint n)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < n; i++) {
        guint j = i;

        if (!bits[i])
            continue;
        while (j + 1 < n && bits[j + 1])
            j++;
        if (s->len > 0)
            g_string_append_c(s, ',');
        if (j == i)
            g_string_append_printf(s, "%u", i);
        else
            g_string_append_printf(s, "%u-%u", i, j);
        i = j;
    }
    return g_string_free(s, FALSE);
}

/**
 * vb_domain_get_guest_vcpus:
 *
 * virDomainGetGuestVcpus: guest-get-vcpus as libvirt's three cpulists "vcpus", "online",
 * "offlinable". Worker threads.
 *
 * Returns: (transfer full): an a{sv}
 */
GVariant *
vb_domain_get_guest_vcpus(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(JsonNode) ret =
        vb_domain_agent_command(list, dom, "GetGuestVcpus", owner, "guest-get-vcpus", NULL, error);
    g_autoptr(GArray) cpus = NULL;
    g_autofree gboolean *all = NULL, *online = NULL, *offl = NULL;
    g_autofree char *s_all = NULL, *s_on = NULL, *s_off = NULL;
    GVariantDict d;

    if (ret == NULL || (cpus = parse_vcpus(ret, error)) == NULL)
        return NULL;
    all = g_new0(gboolean, GUEST_VCPU_MAX_ID);
    online = g_new0(gboolean, GUEST_VCPU_MAX_ID);
    offl = g_new0(gboolean, GUEST_VCPU_MAX_ID);
    for (guint i = 0; i < cpus->len; i++) {
        const GuestCpu *c = &g_array_index(cpus, GuestCpu, i);

        all[c->id] = TRUE;
        online[c->id] = c->online;
        offl[c->id] = c->offlinable;
    }
    s_all = format_cpulist(all, GUEST_VCPU_MAX_ID);
    s_on = format_cpulist(online, GUEST_VCPU_MAX_ID);
    s_off = format_cpulist(offl, GUEST_VCPU_MAX_ID);
    g_variant_dict_init(&d, NULL);
    g_variant_dict_insert(&d, "vcpus", "s", s_all);
    g_variant_dict_insert(&d, "online", "s", s_on);
    g_variant_dict_insert(&d, "offlinable", "s", s_off);
    return g_variant_ref_sink(g_variant_dict_end(&d));
}

/* guest-set-vcpus with the modified entries, repeated as qemu-ga may stop at the first
 * failure (returns how many it changed), as libvirt's qemuAgentSetVCPUs. */
static gboolean
set_vcpus(VbAgentSession *s, GArray *cpus, GError **error)
{
    for (guint round = 0; round < cpus->len + 1; round++) {
        JsonObject *args = json_object_new();
        JsonArray *arr = json_array_new();
        g_autoptr(JsonNode) ret = NULL;
        gint64 done, n = 0;
        guint k = 0;

        for (guint i = 0; i < cpus->len; i++) {
            const GuestCpu *c = &g_array_index(cpus, GuestCpu, i);
            JsonObject *o;

            if (!c->modified)
                continue;
            o = json_object_new();
            json_object_set_int_member(o, "logical-id", c->id);
            json_object_set_boolean_member(o, "online", c->online);
            json_array_add_object_element(arr, o);
            n++;
        }
        if (n == 0) {
            json_array_unref(arr);
            json_object_unref(args);
            return TRUE;
        }
        json_object_set_array_member(args, "vcpus", arr);
        ret = vb_agent_session_run(s, "guest-set-vcpus", args, error);
        if (ret == NULL)
            return FALSE;
        if (!JSON_NODE_HOLDS_VALUE(ret) || json_node_get_value_type(ret) != G_TYPE_INT64 ||
            (done = json_node_get_int(ret)) <= 0 || done > n) {
            g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                        "domain '%s': the guest agent's guest-set-vcpus reply is malformed "
                        "or invalid",
                        s->name);
            return FALSE;
        }
        /* the first @done modified entries are set */
        for (guint i = 0; i < cpus->len && k < done; i++) {
            GuestCpu *c = &g_array_index(cpus, GuestCpu, i);

            if (c->modified) {
                c->modified = FALSE;
                k++;
            }
        }
    }
    return TRUE;
}

static GArray *
session_get_vcpus(VbAgentSession *s, GError **error)
{
    g_autoptr(JsonNode) ret = vb_agent_session_run(s, "guest-get-vcpus", NULL, error);
    GArray *cpus;

    if (ret == NULL)
        return NULL;
    cpus = parse_vcpus(ret, error);
    if (cpus == NULL)
        g_prefix_error(error, "domain '%s': ", s->name);
    return cpus;
}

/**
 * vb_domain_set_guest_vcpus:
 * @vcpumap: (ab) the guest's vCPUs to change, by logical id
 * @state: 0 offline, 1 online
 *
 * virDomainSetGuestVcpus. Worker threads.
 */
gboolean
vb_domain_set_guest_vcpus(VbDomainList *list, VbDomainObj *dom, GVariant *vcpumap, int state,
                          const char *owner, GError **error)
{
    gsize n = g_variant_n_children(vcpumap);
    const guchar *bits; /* GVariant stores a boolean of an array in one byte */
    g_autofree gboolean *want = NULL;
    g_autoptr(GArray) cpus = NULL;
    VbAgentSession s;
    gboolean ok = FALSE, any = FALSE;

    if (state != 0 && state != 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "SetGuestVcpus: unsupported state %d: give 0 (offline) or 1 (online)", state);
        return FALSE;
    }
    if (n > GUEST_VCPU_MAX_ID) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "SetGuestVcpus: the map names vCPUs beyond %u", GUEST_VCPU_MAX_ID - 1);
        return FALSE;
    }
    bits = g_variant_get_fixed_array(vcpumap, &n, sizeof(guchar));
    want = g_new0(gboolean, MAX(n, 1));
    for (gsize i = 0; i < n; i++) {
        want[i] = bits[i] != 0;
        any = any || want[i];
    }
    if (!any) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "SetGuestVcpus: the vCPU map selects no vCPU");
        return FALSE;
    }
    if (!vb_agent_session_begin(&s, list, dom, "SetGuestVcpus", owner, 0, error))
        return FALSE;
    cpus = session_get_vcpus(&s, error);
    if (cpus == NULL)
        goto out;
    for (guint i = 0; i < cpus->len; i++) {
        GuestCpu *c = &g_array_index(cpus, GuestCpu, i);

        if (c->id >= n || !want[c->id])
            continue;
        if (state == 0 && !c->offlinable) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "domain '%s': vCPU '%u' is not offlinable", s.name, c->id);
            goto out;
        }
        c->online = state == 1;
        c->modified = TRUE;
        want[c->id] = FALSE;
    }
    {
        g_autofree char *missing = format_cpulist(want, n);

        if (*missing != '\0') {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "domain '%s': the guest is missing vCPUs '%s'", s.name, missing);
            goto out;
        }
    }
    ok = set_vcpus(&s, cpus, error);
out:
    vb_agent_session_end(&s);
    return ok;
}

/* libvirt's qemuAgentUpdateCPUInfo: which vCPUs to (off|on)line for @n online. */
static gboolean
plan_vcpus(GArray *cpus, guint n, const char *name, GError **error)
{
    guint online = 0, offlinable = 0;
    GuestCpu *cpu0 = NULL;

    for (guint i = 0; i < cpus->len; i++) {
        GuestCpu *c = &g_array_index(cpus, GuestCpu, i);

        if (c->id == 0)
            cpu0 = c;
        online += c->online;
        offlinable += c->online && c->offlinable;
        if (!c->online && !c->offlinable) {
            g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                        "domain '%s': invalid data from the guest agent (vCPU %u offline "
                        "and not offlinable)",
                        name, c->id);
            return FALSE;
        }
    }
    /* vCPU 0 is never chosen when every online vCPU could go (libvirt) */
    if (offlinable == online && cpu0 != NULL && cpu0->online) {
        cpu0->offlinable = FALSE;
        offlinable--;
    }
    if (n > cpus->len) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "domain '%s': the guest agent reports %u vCPUs, fewer than the %u asked", name,
                    cpus->len, n);
        return FALSE;
    }
    if (n < online - offlinable) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "domain '%s': cannot offline enough vCPUs (%u cannot go offline)", name,
                    online - offlinable);
        return FALSE;
    }
    for (guint i = 0; i < cpus->len && n != online; i++) {
        GuestCpu *c = &g_array_index(cpus, GuestCpu, i);

        if (n < online && c->online && c->offlinable) {
            c->online = FALSE;
            c->modified = TRUE;
            online--;
        } else if (n > online && !c->online) {
            c->online = TRUE;
            c->modified = TRUE;
            online++;
        }
    }
    return TRUE;
}

/**
 * vb_domain_set_vcpus_agent:
 * @n: how many vCPUs the guest shall have online
 *
 * SetVcpus with flag GUEST (libvirt's qemuDomainSetVcpusAgent): the guest onlines or
 * offlines its vCPUs through the agent; at most the domain's current vCPU count. Worker
 * threads.
 */
gboolean
vb_domain_set_vcpus_agent(VbDomainList *list, VbDomainObj *dom, guint n, const char *owner,
                          GError **error)
{
    g_autoptr(GArray) cpus = NULL;
    guint current;
    VbAgentSession s;
    gboolean ok = FALSE;

    if (!vb_agent_session_begin(&s, list, dom, "SetVcpus", owner, 0, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    current = dom->def->vcpus_current;
    g_mutex_unlock(&dom->lock);
    if (n > current) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "requested vCPU count is greater than the count of enabled vCPUs in the "
                    "domain: %u > %u",
                    n, current);
        goto out;
    }
    cpus = session_get_vcpus(&s, error);
    ok = cpus != NULL && plan_vcpus(cpus, n, s.name, error) && set_vcpus(&s, cpus, error);
out:
    vb_agent_session_end(&s);
    return ok;
}

/* ---- PMSuspendForDuration, PMWakeup ---- */

/* The domain's <pm><suspend-to-mem|suspend-to-disk enabled='yes|no'/>: 1 yes, 0 no, -1
 * unset. Under lock. */
static void
pm_settings_locked(VbDomainObj *dom, int *s3, int *s4)
{
    GPtrArray *kids = dom->def->priv->root_extra.children;

    *s3 = *s4 = -1;
    for (guint i = 0; kids != NULL && i < kids->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(kids, i);
        xmlDoc *doc;
        xmlNode *root;

        if (g_strcmp0(raw->name, "pm") != 0)
            continue;
        doc = vb_raw_elem_parse(raw);
        root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
        for (xmlNode *n = root != NULL ? root->children : NULL; n != NULL; n = n->next) {
            xmlChar *en;
            int v;

            if (n->type != XML_ELEMENT_NODE)
                continue;
            en = xmlGetProp(n, (const xmlChar *)"enabled");
            v = en == NULL ? -1 : xmlStrEqual(en, (const xmlChar *)"yes") ? 1 : 0;
            xmlFree(en);
            if (xmlStrEqual(n->name, (const xmlChar *)"suspend-to-mem"))
                *s3 = v;
            else if (xmlStrEqual(n->name, (const xmlChar *)"suspend-to-disk"))
                *s4 = v;
        }
        if (doc != NULL)
            xmlFreeDoc(doc);
    }
}

/* The domain's job: the monitor of the running domain, or NULL with the error. */
static VbQemuMonitor *
job_monitor(VbDomainList *list, VbDomainObj *dom, VbJobType type, const char *method,
            const char *owner, GError **error)
{
    VbQemuMonitor *mon = NULL;

    if (!vb_domain_job_begin(dom, type, method, owner, list->config->job_wait_timeout,
                             list->config->max_queued, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    if (dom->id < 0 || dom->mon == NULL || dom->stopping)
        vb_domain_obj_set_not_running_error(dom, method, error);
    else
        mon = vb_qemu_monitor_ref(dom->mon);
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        vb_domain_job_end(dom);
    return mon;
}

/* libvirt's qemuDomainQueryWakeupSuspendSupport: query-current-machine */
static gboolean
wakeup_supported(VbDomainList *list, VbDomainObj *dom, const char *owner, gboolean *out,
                 GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        job_monitor(list, dom, VB_JOB_QUERY, "PMSuspendForDuration", owner, error);
    g_autoptr(JsonNode) r = NULL;

    if (mon == NULL)
        return FALSE;
    r = vb_qemu_monitor_command(mon, "query-current-machine", NULL, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    if (r == NULL)
        return FALSE;
    *out = JSON_NODE_HOLDS_OBJECT(r) &&
           json_object_get_boolean_member_with_default(json_node_get_object(r),
                                                       "wakeup-suspend-support", FALSE);
    return TRUE;
}

/**
 * vb_domain_pm_suspend:
 * @target: VB_SUSPEND_TARGET_MEM / _DISK / _HYBRID
 * @duration: must be 0 (libvirt)
 *
 * virDomainPMSuspendForDuration: guest-suspend-ram / -disk / -hybrid through the agent,
 * refused when QEMU has no wake-up support or the domain's <pm> disables the state.
 * qemu-ga does not answer a successful suspend: silence for a few seconds (or the
 * channel closing) is success; the SUSPEND event then makes the domain pmsuspended.
 * Worker threads.
 */
gboolean
vb_domain_pm_suspend(VbDomainList *list, VbDomainObj *dom, guint target, guint64 duration,
                     const char *owner, GError **error)
{
    static const char *const cmds[] = {"guest-suspend-ram", "guest-suspend-disk",
                                       "guest-suspend-hybrid"};
    gboolean wakeup = FALSE, ok;
    int s3, s4;
    VbAgentSession s;

    if (duration != 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "PMSuspendForDuration: a duration is not supported; use 0 (as "
                            "libvirt)");
        return FALSE;
    }
    if (target > VB_SUSPEND_TARGET_HYBRID) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "PMSuspendForDuration: unknown suspend target %u: give 0 (mem), 1 (disk) "
                    "or 2 (hybrid)",
                    target);
        return FALSE;
    }
    /* the agent first (libvirt's order): not configured / not connected come before */
    {
        g_autofree char *agent_name = NULL;
        g_autofree char *sock = vb_domain_agent_begin(list, dom, "PMSuspendForDuration", owner,
                                                      &agent_name, error);

        if (sock == NULL)
            return FALSE;
        vb_domain_agent_job_end(dom);
    }
    if (!wakeup_supported(list, dom, owner, &wakeup, error))
        return FALSE;
    if (!wakeup) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "the domain does not have suspend support (QEMU reports no "
                            "wake-up from suspend for this machine)");
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    pm_settings_locked(dom, &s3, &s4);
    g_mutex_unlock(&dom->lock);
    if (s3 == 0 && target != VB_SUSPEND_TARGET_DISK) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "S3 state is disabled for this domain (<pm><suspend-to-mem "
                            "enabled='no'/>)");
        return FALSE;
    }
    if (s4 == 0 && target == VB_SUSPEND_TARGET_DISK) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "S4 state is disabled for this domain (<pm><suspend-to-disk "
                            "enabled='no'/>)");
        return FALSE;
    }
    if (!vb_agent_session_begin(&s, list, dom, "PMSuspendForDuration", owner, 0, error))
        return FALSE;
    ok = vb_qemu_agent_sync(s.agent, s.deadline, error) &&
         vb_qemu_agent_command_noreply(
             s.agent, cmds[target], NULL,
             MIN(s.deadline, g_get_monotonic_time() + SUSPEND_ERROR_WAIT_MS * 1000), error);
    if (!ok)
        g_prefix_error(error, "domain '%s': ", s.name);
    else
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "asked the guest to suspend (%s)",
                      cmds[target]);
    vb_agent_session_end(&s);
    return ok;
}

/**
 * vb_domain_pm_wakeup:
 *
 * virDomainPMWakeup: system_wakeup of a pmsuspended domain; the WAKEUP event makes it
 * running again. Worker threads; the domain's modify job.
 */
gboolean
vb_domain_pm_wakeup(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = job_monitor(list, dom, VB_JOB_MODIFY, "PMWakeup", owner, error);
    g_autoptr(JsonNode) r = NULL;
    VbDomainState state;
    g_autofree char *name = NULL;

    if (mon == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    state = dom->state;
    name = g_strdup(dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (state != VB_DOMAIN_STATE_PMSUSPENDED) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not suspended by the guest (state %s): only a "
                    "pmsuspended domain can be woken up",
                    name, vb_domain_state_to_string(state));
        vb_domain_job_end(dom);
        return FALSE;
    }
    r = vb_qemu_monitor_command(mon, "system_wakeup", NULL, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    return r != NULL;
}
