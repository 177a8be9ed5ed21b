/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "qemu-json-check.h"
#include "qemu-monitor-parse.h"
#include "vb-error.h"

/*
 * QMP framing: QEMU writes one JSON object per line. Everything here
 * treats the input as hostile (a confused or compromised QEMU must not
 * crash the service): lengths, NUL bytes, UTF-8, strict JSON lexemes and
 * nesting (vb_qemu_json_check()) are checked before json-glib sees the
 * text, and every member is type-checked. A line that fails is a protocol
 * error: the monitor treats the connection as broken (qemu-monitor.c).
 */

static gboolean
is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/**
 * vb_qemu_monitor_is_one_object:
 * @s: JSON text; need not be NUL-terminated
 * @len: its length in bytes
 *
 * Whether @s holds one JSON object and nothing but whitespace around it,
 * judged by its brackets and strings only (json-glib checks the rest).
 * json-glib 1.6 accepts several top-level objects or arrays in a row, keeps
 * the last one and leaks the others: text with more than one must never
 * reach it. Pure function: any thread.
 */
gboolean
vb_qemu_monitor_is_one_object(const char *s, gsize len)
{
    gboolean in_string = FALSE;
    gsize i = 0;
    gint64 depth = 0;

    while (i < len && is_json_space(s[i]))
        i++;
    if (i == len || s[i] != '{')
        return FALSE;
    for (; i < len; i++) {
        char c = s[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = FALSE;
        } else if (c == '"') {
            in_string = TRUE;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                break;
        }
    }
    if (i == len)
        return TRUE; /* unterminated: json-glib reports the error */
    for (i++; i < len; i++) {
        if (!is_json_space(s[i]))
            return FALSE;
    }
    return TRUE;
}

static JsonNode *
member(JsonObject *obj, const char *name, JsonNodeType type)
{
    JsonNode *node = json_object_get_member(obj, name);

    return node != NULL && JSON_NODE_TYPE(node) == type ? node : NULL;
}

static const char *
string_member(JsonObject *obj, const char *name)
{
    JsonNode *node = member(obj, name, JSON_NODE_VALUE);

    return node != NULL && json_node_get_value_type(node) == G_TYPE_STRING
               ? json_node_get_string(node)
               : NULL;
}

static gboolean
int_member(JsonObject *obj, const char *name, gint64 *out_value)
{
    JsonNode *node = member(obj, name, JSON_NODE_VALUE);

    if (node == NULL || json_node_get_value_type(node) != G_TYPE_INT64)
        return FALSE;
    *out_value = json_node_get_int(node);
    return TRUE;
}

static gboolean
classify_event(JsonObject *obj, VbQmpMessage *msg, GError **error)
{
    JsonNode *data = json_object_get_member(obj, "data");
    JsonNode *ts = member(obj, "timestamp", JSON_NODE_OBJECT);

    msg->kind = VB_QMP_MSG_EVENT;
    msg->event = string_member(obj, "event");
    if (msg->event == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "malformed QMP message: event name is "
                                                    "not a string");
        return FALSE;
    }
    if (data != NULL && JSON_NODE_HOLDS_OBJECT(data))
        msg->data = json_node_get_object(data);
    else if (data != NULL && !JSON_NODE_HOLDS_NULL(data)) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU,
                    "malformed QMP message: data of event %s is not an object", msg->event);
        return FALSE;
    }
    msg->seconds = -1;
    msg->micros = 0;
    if (ts != NULL) {
        JsonObject *t = json_node_get_object(ts);

        if (!int_member(t, "seconds", &msg->seconds) ||
            !int_member(t, "microseconds", &msg->micros)) {
            msg->seconds = -1;
            msg->micros = 0;
        }
    }
    return TRUE;
}

static gboolean
classify_error(JsonObject *obj, VbQmpMessage *msg, GError **error)
{
    JsonNode *err = member(obj, "error", JSON_NODE_OBJECT);

    msg->kind = VB_QMP_MSG_ERROR;
    if (err != NULL) {
        msg->err_class = string_member(json_node_get_object(err), "class");
        msg->err_desc = string_member(json_node_get_object(err), "desc");
    }
    if (msg->err_class == NULL || msg->err_desc == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                            "malformed QMP message: error without class or desc");
        return FALSE;
    }
    return TRUE;
}

static gboolean
classify(JsonObject *obj, VbQmpMessage *msg, GError **error)
{
    msg->has_id = int_member(obj, "id", &msg->id);
    if (json_object_has_member(obj, "QMP")) {
        msg->kind = VB_QMP_MSG_GREETING;
        return TRUE;
    }
    if (json_object_has_member(obj, "event"))
        return classify_event(obj, msg, error);
    if (json_object_has_member(obj, "return")) {
        msg->kind = VB_QMP_MSG_RETURN;
        msg->ret = json_object_get_member(obj, "return");
        return TRUE;
    }
    if (json_object_has_member(obj, "error"))
        return classify_error(obj, msg, error);
    g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                        "malformed QMP message: neither a reply nor an event");
    return FALSE;
}

/**
 * vb_qemu_monitor_parse_line:
 * @line: one QMP line, without the newline; need not be NUL-terminated
 * @len: its length in bytes
 * @out_msg: (out caller-allocates): the message; clear with vb_qmp_message_clear()
 *
 * Parses and classifies one line of the QMP stream. Pure function: any thread.
 *
 * Returns: TRUE, or FALSE with VB_ERROR_QEMU "malformed QMP message: ..."
 *   (@out_msg is then left cleared).
 */
gboolean
vb_qemu_monitor_parse_line(const char *line, gsize len, VbQmpMessage *out_msg, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) local = NULL;
    VbQmpMessage msg = { 0 };
    gsize offset = 0;
    JsonNode *root;

    memset(out_msg, 0, sizeof(*out_msg));
    if (len == 0 || len > VB_QMP_MAX_LINE || memchr(line, '\0', len) != NULL ||
        !g_utf8_validate_len(line, len, NULL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                            "malformed QMP message: empty, too long, or not UTF-8");
        return FALSE;
    }
    switch (vb_qemu_json_check(line, len, VB_QEMU_JSON_MAX_DEPTH, &offset)) {
    case VB_QEMU_JSON_CHECK_OK:
        break;
    case VB_QEMU_JSON_CHECK_TOO_DEEP:
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU,
                    "malformed QMP message: nested deeper than %d levels", VB_QEMU_JSON_MAX_DEPTH);
        return FALSE;
    case VB_QEMU_JSON_CHECK_NOT_STRICT:
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU,
                    "malformed QMP message: not strict JSON at byte %" G_GSIZE_FORMAT, offset);
        return FALSE;
    }
    if (!vb_qemu_monitor_is_one_object(line, len)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                            "malformed QMP message: not a single JSON object");
        return FALSE;
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, line, (gssize)len, &local)) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "malformed QMP message: %s",
                    local->message);
        return FALSE;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                            "malformed QMP message: not a JSON object");
        return FALSE;
    }
    msg.root = json_node_ref(root);
    if (!classify(json_node_get_object(root), &msg, error)) {
        vb_qmp_message_clear(&msg);
        return FALSE;
    }
    *out_msg = msg;
    return TRUE;
}

/**
 * vb_qmp_message_clear:
 *
 * Releases what vb_qemu_monitor_parse_line() put in @msg. Idempotent.
 */
void
vb_qmp_message_clear(VbQmpMessage *msg)
{
    g_clear_pointer(&msg->root, json_node_unref);
    memset(msg, 0, sizeof(*msg));
}

/**
 * vb_qemu_monitor_split_lines:
 * @buf: bytes received so far; complete lines are removed from it
 * @func: called for every complete non-empty line (a trailing "\r" is dropped)
 *
 * Returns: FALSE with VB_ERROR_QEMU when the unterminated rest of @buf
 *   exceeds VB_QMP_MAX_LINE.
 */
gboolean
vb_qemu_monitor_split_lines(GString *buf, VbQmpLineFunc func, gpointer user_data,
                            GError **error)
{
    gsize start = 0;

    while (start < buf->len) {
        char *nl = memchr(buf->str + start, '\n', buf->len - start);
        gsize end, len;
        gboolean go_on = TRUE;

        if (nl == NULL)
            break;
        end = nl - buf->str;
        *nl = '\0';
        len = end - start;
        if (len > 0 && buf->str[end - 1] == '\r') {
            buf->str[end - 1] = '\0';
            len--;
        }
        if (len > 0)
            go_on = func(buf->str + start, len, user_data);
        start = end + 1;
        if (!go_on)
            break;
    }
    g_string_erase(buf, 0, start);
    if (buf->len > VB_QMP_MAX_LINE) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                            "malformed QMP message: line too long");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_monitor_node_to_string:
 *
 * Returns: (transfer full): compact JSON text of @node.
 */
char *
vb_qemu_monitor_node_to_string(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}
