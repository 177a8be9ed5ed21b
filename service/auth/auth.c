/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <polkit/polkit.h>

#include "auth.h"
#include "vb-error.h"

/*
 * One asynchronous question: may @caller do @action? Root is always
 * allowed. With polkit, polkitd decides for everyone else (never a
 * synchronous call: an authentication dialog could take minutes). Without
 * polkit (a session or private bus), only the uid that owns the service
 * may call.
 */
struct _VbAuth {
    PolkitAuthority *authority; /* NULL: uid fallback */
    uid_t owner_uid;
};

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
        auth->authority = polkit_authority_get_sync(NULL, error);
        if (auth->authority == NULL) {
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
    g_clear_object(&auth->authority);
    g_free(auth);
}

static void
check_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(PolkitAuthorizationResult) result = NULL;
    const char *action = g_task_get_task_data(task);

    result = polkit_authority_check_authorization_finish(POLKIT_AUTHORITY(source), res, &error);
    if (result == NULL) {
        g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                _("Authorization check for '%s' failed: %s"), action,
                                error->message);
        return;
    }
    if (polkit_authorization_result_get_is_authorized(result)) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    if (polkit_authorization_result_get_is_challenge(result)) {
        if (GPOINTER_TO_INT(g_object_get_data(G_OBJECT(task), "interactive")))
            g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                    _("Authentication is required for '%s', but no "
                                      "authentication agent answered"), action);
        else
            g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                    _("Authentication is required for '%s'; call again "
                                      "allowing interactive authorization"), action);
        return;
    }
    g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                            _("Not authorized to perform '%s'"), action);
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
    g_autoptr(PolkitSubject) subject = NULL;
    g_autoptr(PolkitDetails) pdetails = NULL;

    g_task_set_source_tag(task, vb_auth_check_async);
    g_task_set_task_data(task, g_strdup(action), g_free);
    g_object_set_data(G_OBJECT(task), "interactive", GINT_TO_POINTER(interactive));

    if (vb_auth_is_unconditional(auth, caller)) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    if (auth->authority == NULL) {
        g_task_return_new_error(task, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                _("Not authorized to perform '%s': only uid %u may use this "
                                  "service"), action, (guint)auth->owner_uid);
        return;
    }

    subject = polkit_system_bus_name_new(caller->sender);
    pdetails = polkit_details_new();
    if (details != NULL) {
        GHashTableIter iter;
        gpointer k, v;

        g_hash_table_iter_init(&iter, details);
        while (g_hash_table_iter_next(&iter, &k, &v))
            polkit_details_insert(pdetails, k, v);
    }
    polkit_authority_check_authorization(
        auth->authority, subject, action, pdetails,
        interactive ? POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION
                    : POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE,
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
    return caller->uid == 0 || (auth->authority == NULL && caller->uid == auth->owner_uid);
}

gboolean
vb_auth_check_finish(VbAuth *auth, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
