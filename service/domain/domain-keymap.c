/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SendKey's codesets (issue 13, part console): libvirt's virKeycodeSet translated to QEMU's
 * key numbers (QNUM, XT scan codes with 0xe0 keys as 0x80 | code), as libvirt's
 * virKeycodeValueTranslate() does, from a table generated out of keycodemapdb.
 */
#include "config.h"

#include "domain-console.h"
#include "domain-keymap-table.h"
#include "vb-error.h"

static const char *const codeset_names[] = {
    "linux", "xt", "atset1", "atset2", "atset3", "osx", "xt_kbd", "usb", "win32", "qnum",
};

/**
 * vb_keymap_translate:
 * @codeset: libvirt's virKeycodeSet (0 linux .. 9 qnum)
 * @keycode: a key in that codeset
 * @out_qcode: (out) (optional): unused, %NULL (QEMU gets numbers, as from libvirt)
 * @out_number: (out): the key's QNUM code
 *
 * Returns: whether the key exists in @codeset; InvalidArgument otherwise
 */
gboolean
vb_keymap_translate(guint codeset, guint keycode, char **out_qcode, int *out_number,
                    GError **error)
{
    if (codeset >= G_N_ELEMENTS(codeset_names)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "unknown keycode set %u (libvirt's codesets are 0 linux .. 9 qnum)",
                    codeset);
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(vb_keymap_table); i++) {
        if (vb_keymap_table[i][codeset] == (int)keycode) {
            if (out_qcode != NULL)
                *out_qcode = NULL;
            *out_number = vb_keymap_table[i][9];
            return TRUE;
        }
    }
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "cannot translate keycode %u of codeset %s", keycode, codeset_names[codeset]);
    return FALSE;
}
