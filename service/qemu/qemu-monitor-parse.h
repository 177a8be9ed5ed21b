/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The socket-free half of the QMP client: splitting the byte stream into
 * lines and classifying each line. Used by qemu-monitor.c and directly by
 * the fuzzer (fuzz/fuzz-qmp.c) and the unit tests.
 */

/* Longest QMP line accepted (query-qmp-schema is ~200 KiB on QEMU 7.2). */
#define VB_QMP_MAX_LINE (64 * 1024 * 1024)
/* The deepest nesting accepted is VB_QEMU_JSON_MAX_DEPTH (qemu-json-check.h). */

typedef enum {
    VB_QMP_MSG_GREETING, /* {"QMP": {...}} */
    VB_QMP_MSG_RETURN,   /* {"return": ..., "id": N} */
    VB_QMP_MSG_ERROR,    /* {"error": {"class", "desc"}, "id": N} */
    VB_QMP_MSG_EVENT,    /* {"event": NAME, "data": {...}, "timestamp": {...}} */
} VbQmpMsgKind;

typedef struct {
    VbQmpMsgKind kind;
    JsonNode *root;          /* owned: the whole object */
    gboolean has_id;         /* an integer "id" member was present */
    gint64 id;
    /* Borrowed from @root: */
    JsonNode *ret;           /* RETURN: the "return" member */
    const char *err_class;   /* ERROR */
    const char *err_desc;    /* ERROR */
    const char *event;       /* EVENT */
    JsonObject *data;        /* EVENT: nullable */
    gint64 seconds;          /* EVENT: QEMU's timestamp, -1 when absent */
    gint64 micros;
} VbQmpMessage;

gboolean vb_qemu_monitor_parse_line(const char *line, gsize len, VbQmpMessage *out_msg,
                                    GError **error);
void vb_qmp_message_clear(VbQmpMessage *msg);
gboolean vb_qemu_monitor_is_one_object(const char *s, gsize len);

/*
 * Called for every complete line (without its "\n", NUL-terminated in
 * place). Return FALSE to stop splitting (the rest stays in the buffer).
 */
typedef gboolean (*VbQmpLineFunc)(const char *line, gsize len, gpointer user_data);

gboolean vb_qemu_monitor_split_lines(GString *buf, VbQmpLineFunc func, gpointer user_data,
                                     GError **error);

char *vb_qemu_monitor_node_to_string(JsonNode *node);

G_END_DECLS
