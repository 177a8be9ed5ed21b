/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "domain-agent.h"
#include "domain-def-guest.h"
#include "domain-list-priv.h"
#include "vb-error.h"

/*
 * The guest agent's side of a domain (issue 12, part addresses; issue 13 grows it): the
 * agent job and one command on the agent channel.
 *
 * The agent job is libvirt's (virDomainObjBeginAgentJob): one agent command at a time per
 * domain, independent of the sync and async jobs, so a guest that does not answer never
 * holds up Suspend, a monitor query or a migration, and Destroy needs nothing from it
 * (killing QEMU closes the channel's socket, which wakes the waiting worker at once).
 * Waiting for it uses the domain's job condition and job_wait_timeout, as a sync job does.
 */

/**
 * vb_domain_agent_job_begin:
 * @method: the API call taking it ("InterfaceAddresses")
 * @owner: (nullable): its caller's bus name
 * @timeout_s: how long to wait for another agent command to end
 *
 * Takes the domain's agent job. Worker threads; dom->lock not held.
 *
 * Returns: FALSE with OperationTimeout ("held by ...") or NoDomain
 */
gboolean
vb_domain_agent_job_begin(VbDomainObj *dom, const char *method, const char *owner,
                          guint timeout_s, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    while (!dom->removed && dom->agent_job) {
        if (!g_cond_wait_until(&dom->job.cond, &dom->lock, deadline) && !dom->removed &&
            dom->agent_job) {
            g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                        "timed out: cannot acquire the guest agent job of domain '%s' (held "
                        "by %s%s%s)", dom->def->name,
                        dom->agent_job_method != NULL ? dom->agent_job_method : "internal",
                        dom->agent_job_owner != NULL ? " from " : "",
                        dom->agent_job_owner != NULL ? dom->agent_job_owner : "");
            return FALSE;
        }
    }
    if (dom->removed) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "domain '%s' no longer exists",
                    dom->def->name);
        return FALSE;
    }
    dom->agent_job = TRUE;
    dom->agent_job_method = g_strdup(method);
    dom->agent_job_owner = g_strdup(owner);
    return TRUE;
}

/**
 * vb_domain_agent_job_end:
 *
 * Ends the agent job and wakes whoever waits for a job of the domain.
 */
void
vb_domain_agent_job_end(VbDomainObj *dom)
{
    g_mutex_lock(&dom->lock);
    dom->agent_job = FALSE;
    g_clear_pointer(&dom->agent_job_method, g_free);
    g_clear_pointer(&dom->agent_job_owner, g_free);
    g_cond_broadcast(&dom->job.cond);
    g_mutex_unlock(&dom->lock);
}

/* Under lock: the agent socket of a running domain, or an error saying why not. */
static char *
agent_socket_locked(VbDomainObj *dom, const char *method, GError **error)
{
    char *path;

    if (dom->id < 0 || dom->mon == NULL || dom->stopping) {
        vb_domain_obj_set_not_running_error(dom, method, error);
        return NULL;
    }
    /* libvirt's qemuDomainAgentAvailable(): a paused guest cannot answer */
    if (dom->state != VB_DOMAIN_STATE_RUNNING) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not running (%s): its guest agent cannot answer; resume "
                    "it first", dom->def->name, vb_domain_state_to_string(dom->state));
        return NULL;
    }
    path = vb_domain_def_find_agent_socket(dom->def, dom->runtime_dir, error);
    /* libvirt's "not connected (yet)": configured, but the guest side of the channel is
     * closed (no qemu-ga yet, or it stopped), as VSERPORT_CHANGE / query-chardev told */
    if (path != NULL && !dom->agent_connected) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE,
                    "QEMU guest agent is not connected: the guest has not opened its channel "
                    VB_AGENT_CHANNEL_NAME " (yet); wait for AgentConnected");
        g_clear_pointer(&path, g_free);
    }
    return path;
}

/**
 * vb_domain_agent_begin:
 * @list: the domain list (its settings)
 * @dom: a domain
 * @method: the API call
 * @owner: (nullable): its caller's bus name
 * @out_name: (out) (transfer full): the domain's name, for messages
 *
 * Takes the agent job and checks the agent can be asked (libvirt's
 * qemuDomainAgentAvailable): the domain runs (not paused), its channel is configured and
 * the guest has it open. On success the caller holds the agent job and ends it with
 * vb_domain_agent_job_end(). Worker threads; no lock held.
 *
 * Returns: (transfer full) (nullable): the agent socket's path; NULL with the job released
 */
char *
vb_domain_agent_begin(VbDomainList *list, VbDomainObj *dom, const char *method,
                      const char *owner, char **out_name, GError **error)
{
    char *path;
    char *name;

    if (!vb_domain_agent_job_begin(dom, method, owner, list->config->job_wait_timeout, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    path = agent_socket_locked(dom, method, error);
    name = g_strdup(dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (path == NULL) {
        g_free(name);
        vb_domain_agent_job_end(dom);
        return NULL;
    }
    *out_name = name;
    return path;
}

/**
 * vb_domain_agent_command:
 * @list: the domain list (its settings: job_wait_timeout, agent_timeout)
 * @dom: a domain
 * @method: the API call ("InterfaceAddresses")
 * @owner: (nullable): its caller's bus name
 * @command: the agent command
 * @args: (nullable) (transfer none): its arguments
 *
 * Runs one guest agent command under the domain's agent job: the domain must run (not
 * paused) and have an agent channel; the exchange (connect, guest-sync-delimited, the
 * command) takes at most agent_timeout seconds. Worker threads; no lock held.
 *
 * Returns: (transfer full) (nullable): the reply's "return" member, or NULL with
 *   OperationInvalid (not running), NotSupported (not configured), AgentUnresponsive
 *   (not connected), OperationTimeout (timed out), AgentCommandFailed (the guest's error)
 */
JsonNode *
vb_domain_agent_command(VbDomainList *list, VbDomainObj *dom, const char *method,
                        const char *owner, const char *command, JsonObject *args,
                        GError **error)
{
    g_autofree char *path = NULL;
    g_autofree char *name = NULL;
    JsonNode *ret;

    if (!vb_domain_agent_job_begin(dom, method, owner, list->config->job_wait_timeout, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    path = agent_socket_locked(dom, method, error);
    name = g_strdup(dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (path == NULL) {
        vb_domain_agent_job_end(dom);
        return NULL;
    }
    g_debug("domain '%s': agent command %s on %s", name, command, path);
    ret = vb_qemu_agent_run(path, command, args, list->config->agent_timeout * 1000, error);
    vb_domain_agent_job_end(dom);
    if (ret == NULL)
        g_prefix_error(error, "domain '%s': ", name);
    return ret;
}
