/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "auth.h"
#include "vb-error.h"

/*
 * One asynchronous question: may @caller do @action? Root is always
 * allowed. With polkit, polkitd decides for everyone else (never a
 * synchronous call: an authentication dialog could take minutes). Without
 * polkit (a session or private bus), only the uid that owns the service
 * may call.
 *
 * polkitd is asked through its D-Bus interface
 * (org.freedesktop.PolicyKit1.Authority.CheckAuthorization, documented in
 * polkit(8)'s D-Bus API reference), as libpolkit-gobject does, without
 * linking that library: it pulled libsystemd and through it libgcrypt,
 * libgpg-error, liblz4, libzstd and libcap into virtbusd, ~0.8 MiB of its
 * resident memory (issue 16, docs/performance.md).
 */
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
#define POLKIT_ALLOW_USER_INTERACTION 1u /* CheckAuthorizationFlags */

struct _VbAuth {
    GDBusConnection *system_bus; /* NULL: uid fallback */
    uid_t owner_uid;
};

typedef struct {
    char *action;
    gboolean interactive;
} Check;

static void
check_free(gpointer data)
{
    Check *c = data;

    g_free(c->action);
    g_free(c);
}

/**
 * vb_auth_new:
 * @use_polkit: ask polkitd (on the system bus, which
 *   DBUS_SYSTEM_BUS_ADDRESS may point elsewhere)
 * @owner_uid: the uid allowed without polkit
 *
 * Call at start-up, before serving: connecting to polkit blocks briefly.
 */
VbAuth *
vb_auth_new(gboolean use_polkit, uid_t owner_uid, GError **error)
{
    g_autofree VbAuth *auth = g_new0(VbAuth, 1);

    auth->owner_uid = owner_uid;
    if (use_polkit) {
        auth->system_bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, error);
        if (auth->system_bus == NULL) {
            vb_error_convert(error);
            g_prefix_error(error, "cannot connect to polkit: ");
            return NULL;
        }
    }
    return g_steal_pointer(&auth);
}

void
vb_auth_free(VbAuth *auth)
{
    if (auth == NULL)
        return;
    g_clear_object(&auth->system_bus);
    g_free(auth);
}

static void
check_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = NULL;
    Check *c = g_task_get_task_data(task);
    gboolean authorized = FALSE, challenge = FALSE;

    reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
    if (reply == NULL) {
        g_dbus_error_strip_remote_error(error);
        g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                _("Authorization check for '%s' failed: %s"), c->action,
                                error->message);
        return;
    }
    /* (is_authorized, is_challenge, details) */
    g_variant_get(reply, "((bb@a{ss}))", &authorized, &challenge, NULL);
    if (authorized) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    if (challenge) {
        if (c->interactive)
            g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                    _("Authentication is required for '%s', but no "
                                      "authentication agent answered"), c->action);
        else
            g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                    _("Authentication is required for '%s'; call again "
                                      "allowing interactive authorization"), c->action);
        return;
    }
    g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                            _("Not authorized to perform '%s'"), c->action);
}

/**
 * vb_auth_check_async:
 * @caller: who asks
 * @action: a VB_ACTION_* polkit action id
 * @details: (nullable): key/value strings passed to polkit rules
 *   (domain, uuid, verb)
 * @interactive: the message allowed interactive authorization
 *
 * Main thread. Completes with TRUE, or NotAuthorized.
 */
void
vb_auth_check_async(VbAuth *auth, VbCaller *caller, const char *action, GHashTable *details,
                    gboolean interactive, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    Check *c = g_new0(Check, 1);
    GVariantBuilder subject, pdetails;

    c->action = g_strdup(action);
    c->interactive = interactive;
    g_task_set_source_tag(task, vb_auth_check_async);
    g_task_set_task_data(task, c, check_free);

    if (vb_auth_is_unconditional(auth, caller)) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    if (auth->system_bus == NULL) {
        g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                _("Not authorized to perform '%s': only uid %u may use this "
                                  "service"), action, (guint)auth->owner_uid);
        return;
    }

    g_variant_builder_init(&subject, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&subject, "{sv}", "name", g_variant_new_string(caller->sender));
    g_variant_builder_init(&pdetails, G_VARIANT_TYPE("a{ss}"));
    if (details != NULL) {
        GHashTableIter iter;
        gpointer k, v;

        g_hash_table_iter_init(&iter, details);
        while (g_hash_table_iter_next(&iter, &k, &v))
            g_variant_builder_add(&pdetails, "{ss}", (const char *)k, (const char *)v);
    }
    /* no timeout: an interactive authentication may take minutes (libpolkit-gobject
     * waits as long); no cancellation id: nothing here cancels a check */
    g_dbus_connection_call(auth->system_bus, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE,
                           "CheckAuthorization",
                           g_variant_new("((s@a{sv})sa{ss}us)", "system-bus-name",
                                         g_variant_builder_end(&subject), action, &pdetails,
                                         interactive ? POLKIT_ALLOW_USER_INTERACTION : 0u, ""),
                           G_VARIANT_TYPE("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE, G_MAXINT,
                           cancellable, check_cb, g_steal_pointer(&task));
}

/**
 * vb_auth_is_unconditional:
 *
 * Whether every check of @caller passes without asking anybody: root, or
 * the service's own uid when polkit is not used. Any thread.
 */
gboolean
vb_auth_is_unconditional(VbAuth *auth, VbCaller *caller)
{
    return caller->uid == 0 || (auth->system_bus == NULL && caller->uid == auth->owner_uid);
}

gboolean
vb_auth_check_finish(VbAuth *auth, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
