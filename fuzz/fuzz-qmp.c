/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the QMP stream parser (service/qemu/qemu-monitor-parse.c): the input
 * is what QEMU could write on the monitor socket. It is fed to the line splitter in chunks
 * (sizes taken from the first input byte, so partial lines are exercised) and every line is
 * parsed; a parsed message must be self-consistent. Crashes, leaks, sanitizer reports,
 * GLib warnings and criticals (fuzz-log.h) and failed consistency checks abort.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-log.h"
#include "qemu-monitor-parse.h"

int LLVMFuzzerInitialize(int *argc, char **argv[]);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char **argv[])
{
    vb_fuzz_log_install();
    return 0;
}

static void
check(gboolean ok, const char *what, const char *line)
{
    if (!ok) {
        fprintf(stderr, "inconsistent message (%s) for line: %s\n", what, line);
        abort();
    }
}

static gboolean
on_line(const char *line, gsize len, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    VbQmpMessage msg;
    guint *count = user_data;

    check(len > 0 && strlen(line) <= len, "line framing", line);
    if (!vb_qemu_monitor_parse_line(line, len, &msg, &error)) {
        check(error != NULL && g_str_has_prefix(error->message, "malformed QMP message"),
              "error without message", line);
        check(msg.root == NULL, "root left on error", line);
        return TRUE;
    }
    check(error == NULL && msg.root != NULL && JSON_NODE_HOLDS_OBJECT(msg.root), "root", line);
    switch (msg.kind) {
    case VB_QMP_MSG_GREETING:
        break;
    case VB_QMP_MSG_RETURN:
        check(msg.ret != NULL, "return", line);
        break;
    case VB_QMP_MSG_ERROR:
        check(msg.err_class != NULL && msg.err_desc != NULL, "error", line);
        break;
    case VB_QMP_MSG_EVENT:
        check(msg.event != NULL, "event", line);
        if (msg.data != NULL)
            json_object_get_size(msg.data);
        break;
    default:
        check(FALSE, "kind", line);
    }
    if (msg.kind == VB_QMP_MSG_RETURN) {
        g_autofree char *text = vb_qemu_monitor_node_to_string(msg.ret);

        check(text != NULL, "regenerate", line);
    }
    vb_qmp_message_clear(&msg);
    (*count)++;
    return *count < 10000;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GString) buf = g_string_new(NULL);
    gsize chunk, off = 1;
    guint count = 0;

    if (size == 0)
        return 0;
    chunk = data[0] == 0 ? size : data[0];
    while (off < size) {
        gsize n = MIN(chunk, size - off);

        g_string_append_len(buf, (const char *)data + off, n);
        off += n;
        if (!vb_qemu_monitor_split_lines(buf, on_line, &count, NULL))
            break;
    }
    return 0;
}
