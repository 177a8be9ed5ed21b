/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * A scripted QMP peer for tests: a thread serving one end of a socketpair.
 * Either replays a recording (tests/data/qmp/NAME.txt: "< " lines are sent,
 * "> " lines are expected from the client, with the client's "id" copied
 * into the replies that follow; "EOF" closes the socket; "! raw TEXT"
 * sends TEXT verbatim; "! sleep MS"; "! hold" waits until the client
 * closes), or runs a function that uses the helpers below.
 */
typedef struct _VbQmpFake VbQmpFake;
typedef void (*VbQmpFakeFunc)(VbQmpFake *fake, gpointer user_data);

/* Starts the peer; *out_fd is the client's end (for vb_qemu_monitor_open_fd()). */
VbQmpFake *vb_qmp_fake_new(VbQmpFakeFunc func, gpointer user_data, int *out_fd);
VbQmpFake *vb_qmp_fake_new_script(const char *path, int *out_fd);
/* Joins the thread; returns the first mismatch (transfer full), or NULL. */
char *vb_qmp_fake_finish(VbQmpFake *fake);

/* Helpers for functions (run on the fake's thread). */
void vb_qmp_fake_send(VbQmpFake *fake, const char *line);
/* The next command from the client (transfer full), or NULL at EOF. */
JsonObject *vb_qmp_fake_recv(VbQmpFake *fake);
void vb_qmp_fake_reply(VbQmpFake *fake, JsonObject *command, const char *return_json);
void vb_qmp_fake_greet(VbQmpFake *fake);
void vb_qmp_fake_close(VbQmpFake *fake);
void vb_qmp_fake_fail(VbQmpFake *fake, const char *message);

G_END_DECLS
