/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>

#include "vb-error.h"

G_DEFINE_QUARK(virtbus-error-quark, vb_error)

/**
 * vb_error_convert:
 * @error: (inout) (nullable): an error of any domain, or %NULL
 *
 * Turns an error from GLib, GIO or a library into a %VB_ERROR, keeping its
 * message, so that callers on the bus only ever see documented error
 * names. Errors already in %VB_ERROR are left alone. Any thread.
 */
void
vb_error_convert(GError **error)
{
    GError *e;

    if (error == NULL || *error == NULL)
        return;
    e = *error;
    if (e->domain == VB_ERROR)
        return;

    if (e->domain == G_IO_ERROR) {
        switch (e->code) {
        case G_IO_ERROR_NOT_FOUND:
        case G_IO_ERROR_PERMISSION_DENIED:
        case G_IO_ERROR_NO_SPACE:
        case G_IO_ERROR_READ_ONLY:
            e->code = VB_ERROR_IO;
            break;
        case G_IO_ERROR_TIMED_OUT:
            e->code = VB_ERROR_OPERATION_TIMEOUT;
            break;
        case G_IO_ERROR_CANCELLED:
            e->code = VB_ERROR_ABORTED;
            break;
        case G_IO_ERROR_INVALID_ARGUMENT:
            e->code = VB_ERROR_INVALID_ARG;
            break;
        case G_IO_ERROR_NOT_SUPPORTED:
            e->code = VB_ERROR_NOT_SUPPORTED;
            break;
        default:
            e->code = VB_ERROR_FAILED;
            break;
        }
    } else if (e->domain == G_FILE_ERROR) {
        e->code = VB_ERROR_IO;
    } else if (e->domain == G_KEY_FILE_ERROR || e->domain == G_MARKUP_ERROR) {
        e->code = VB_ERROR_INVALID_ARG;
    } else {
        e->code = VB_ERROR_FAILED;
    }
    e->domain = VB_ERROR;
}

/**
 * vb_error_ensure:
 * @error: (inout) (nullable): error location
 *
 * Ensures a failing path always reports something: if @error is set but
 * empty, fills it with an internal error. Returns %FALSE for use as
 * `return vb_error_ensure(error);`.
 */
gboolean
vb_error_ensure(GError **error)
{
    if (error != NULL && *error == NULL)
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL, "internal error: no details");
    return FALSE;
}

/**
 * vb_enum_lookup:
 * @table: the names of an enum's values, in value order
 * @n: how many
 * @str: (nullable): a name
 *
 * The from_string half of every enum table: returns the value named @str,
 * or -1 for an unknown (or %NULL) name.
 */
int
vb_enum_lookup(const char *const *table, int n, const char *str)
{
    for (int i = 0; str != NULL && i < n; i++) {
        if (g_str_equal(table[i], str))
            return i;
    }
    return -1;
}
