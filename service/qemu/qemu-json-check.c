/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "qemu-json-check.h"

/*
 * A pre-scan of JSON text before json-glib parses it, on any thread: it
 * bounds the nesting depth without recursing. Its idea of what is inside a
 * string must be json-glib's, or brackets hidden from the count reach the
 * parser: json-glib also takes 'single-quoted' strings (without escapes),
 * comments and other GScanner tokens, so outside double-quoted strings
 * only what strict JSON (RFC 8259) allows there is accepted — structural
 * characters, white space, numbers and the literals — and anything else is
 * refused. Inside a double-quoted string, a backslash takes the next byte
 * along, as it does in json-glib's scanner.
 *
 * Also compiled into virtbusctl (client/meson.build) and the QMP fuzzer:
 * depends on nothing but GLib.
 */

static gboolean
allowed_outside_string(char c)
{
    switch (c) {
    case '{': case '}': case '[': case ']': case ':': case ',':
    case ' ': case '\t': case '\n': case '\r':
    case '+': case '-': case '.':
        return TRUE;
    default:
        return g_ascii_isalnum(c); /* numbers, true, false, null */
    }
}

/**
 * vb_qemu_json_check:
 * @text: JSON text (need not be NUL-terminated)
 * @len: its length in bytes
 * @max_depth: the deepest array/object nesting allowed
 * @out_offset: (out) (optional): where the scan stopped, on failure
 *
 * Pure function: any thread.
 *
 * Returns: whether json-glib may parse @text without recursing deeper than
 *   @max_depth levels. OK does not mean valid JSON (the parser still
 *   decides that), only that parsing it is safe.
 */
VbQemuJsonCheck
vb_qemu_json_check(const char *text, gsize len, guint max_depth, gsize *out_offset)
{
    gboolean in_string = FALSE;
    guint depth = 0;
    gsize i;

    for (i = 0; i < len; i++) {
        char c = text[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = FALSE;
            continue;
        }
        if (c == '"') {
            in_string = TRUE;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                break;
        } else if (c == '}' || c == ']') {
            /* an unmatched closer is a parse error; never count below 0,
             * so what follows it is not undercounted */
            if (depth > 0)
                depth--;
        } else if (!allowed_outside_string(c)) {
            if (out_offset != NULL)
                *out_offset = i;
            return VB_QEMU_JSON_CHECK_NOT_STRICT;
        }
    }
    if (i >= len)
        return VB_QEMU_JSON_CHECK_OK;
    if (out_offset != NULL)
        *out_offset = i;
    return VB_QEMU_JSON_CHECK_TOO_DEEP;
}
