/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp-fake.h"

#define GREETING \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}"

struct _VbQmpFake {
    int fd;
    GThread *thread;
    GString *in;
    char *error;
    VbQmpFakeFunc func;
    gpointer user_data;
    char *script;
    gint64 last_id;
};

/**
 * vb_qmp_fake_fail:
 *
 * Records the first mismatch (reported by vb_qmp_fake_finish()).
 */
void
vb_qmp_fake_fail(VbQmpFake *fake, const char *message)
{
    if (fake->error == NULL)
        fake->error = g_strdup(message);
}

/**
 * vb_qmp_fake_send:
 *
 * Sends @line plus a newline (blocking).
 */
void
vb_qmp_fake_send(VbQmpFake *fake, const char *line)
{
    g_autofree char *text = g_strconcat(line, "\n", NULL);
    gsize off = 0, len = strlen(text);

    while (fake->fd >= 0 && off < len) {
        gssize n = send(fake->fd, text + off, len - off, MSG_NOSIGNAL);

        if (n <= 0)
            return;
        off += n;
    }
}

static char *
recv_line(VbQmpFake *fake)
{
    for (;;) {
        char *nl = memchr(fake->in->str, '\n', fake->in->len);
        char buf[4096];
        gssize n;

        if (nl != NULL) {
            char *line = g_strndup(fake->in->str, nl - fake->in->str);

            g_string_erase(fake->in, 0, nl - fake->in->str + 1);
            return line;
        }
        n = fake->fd >= 0 ? recv(fake->fd, buf, sizeof(buf), 0) : 0;
        if (n <= 0)
            return NULL;
        g_string_append_len(fake->in, buf, n);
    }
}

/**
 * vb_qmp_fake_recv:
 *
 * Returns: (transfer full) (nullable): the next command, NULL at EOF.
 */
JsonObject *
vb_qmp_fake_recv(VbQmpFake *fake)
{
    g_autofree char *line = recv_line(fake);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root;

    if (line == NULL)
        return NULL;
    if (!json_parser_load_from_data(parser, line, -1, NULL) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        vb_qmp_fake_fail(fake, "client sent something that is not a JSON object");
        return NULL;
    }
    if (json_object_has_member(json_node_get_object(root), "id"))
        fake->last_id = json_object_get_int_member(json_node_get_object(root), "id");
    return json_object_ref(json_node_get_object(root));
}

/**
 * vb_qmp_fake_reply:
 * @return_json: JSON text of the "return" value
 *
 * Answers @command (its id).
 */
void
vb_qmp_fake_reply(VbQmpFake *fake, JsonObject *command, const char *return_json)
{
    g_autofree char *line = g_strdup_printf(
        "{\"return\": %s, \"id\": %" G_GINT64_FORMAT "}", return_json,
        json_object_get_int_member_with_default(command, "id", 0));

    vb_qmp_fake_send(fake, line);
}

/**
 * vb_qmp_fake_greet:
 *
 * Sends QEMU 7.2's greeting and answers qmp_capabilities.
 */
void
vb_qmp_fake_greet(VbQmpFake *fake)
{
    g_autoptr(JsonObject) cmd = NULL;

    vb_qmp_fake_send(fake, GREETING);
    cmd = vb_qmp_fake_recv(fake);
    if (cmd == NULL || g_strcmp0(json_object_get_string_member_with_default(cmd, "execute", ""),
                                 "qmp_capabilities") != 0) {
        vb_qmp_fake_fail(fake, "expected qmp_capabilities");
        return;
    }
    vb_qmp_fake_reply(fake, cmd, "{}");
}

/**
 * vb_qmp_fake_close:
 *
 * Closes the peer's end (the client sees EOF).
 */
void
vb_qmp_fake_close(VbQmpFake *fake)
{
    if (fake->fd >= 0)
        close(fake->fd);
    fake->fd = -1;
}

/* Copies the last id received into a reply line that has an "id". */
static char *
with_last_id(VbQmpFake *fake, const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    JsonNode *root;

    if (!json_parser_load_from_data(parser, line, -1, NULL) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root) ||
        !json_object_has_member(json_node_get_object(root), "id"))
        return g_strdup(line);
    json_object_set_int_member(json_node_get_object(root), "id", fake->last_id);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static void
expect(VbQmpFake *fake, const char *want_line, guint lineno)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(JsonObject) got = vb_qmp_fake_recv(fake);
    JsonObject *want;

    if (!json_parser_load_from_data(parser, want_line, -1, NULL)) {
        vb_qmp_fake_fail(fake, "bad script line");
        return;
    }
    want = json_node_get_object(json_parser_get_root(parser));
    if (got == NULL ||
        g_strcmp0(json_object_get_string_member(want, "execute"),
                  json_object_get_string_member_with_default(got, "execute", "")) != 0) {
        g_autofree char *msg = g_strdup_printf("script line %u: expected %s", lineno, want_line);

        vb_qmp_fake_fail(fake, msg);
    }
}

static void
run_script(VbQmpFake *fake, gpointer user_data)
{
    g_auto(GStrv) lines = g_strsplit(fake->script, "\n", -1);

    for (guint i = 0; lines[i] != NULL && fake->error == NULL; i++) {
        const char *l = lines[i];

        if (g_str_has_prefix(l, "< ")) {
            g_autofree char *out = with_last_id(fake, l + 2);

            vb_qmp_fake_send(fake, out);
        } else if (g_str_has_prefix(l, "> ")) {
            expect(fake, l + 2, i + 1);
        } else if (strcmp(l, "EOF") == 0) {
            vb_qmp_fake_close(fake);
        } else if (g_str_has_prefix(l, "! raw ")) {
            vb_qmp_fake_send(fake, l + 6);
        } else if (g_str_has_prefix(l, "! sleep ")) {
            g_usleep(g_ascii_strtoull(l + 8, NULL, 10) * 1000);
        } else if (strcmp(l, "! hold") == 0) {
            g_autofree char *rest = NULL;

            while ((rest = recv_line(fake)) != NULL)
                g_clear_pointer(&rest, g_free);
        }
    }
}

static gpointer
fake_thread(gpointer data)
{
    VbQmpFake *fake = data;

    fake->func(fake, fake->user_data);
    return NULL;
}

static VbQmpFake *
fake_start(VbQmpFakeFunc func, gpointer user_data, char *script, int *out_fd)
{
    VbQmpFake *fake = g_new0(VbQmpFake, 1);
    int fds[2];

    g_assert_no_errno(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
    fake->fd = fds[0];
    fake->in = g_string_new(NULL);
    fake->func = func;
    fake->user_data = user_data;
    fake->script = script;
    *out_fd = fds[1];
    fake->thread = g_thread_new("qmp-fake", fake_thread, fake);
    return fake;
}

/**
 * vb_qmp_fake_new:
 *
 * Returns: (transfer full): the running peer; end it with vb_qmp_fake_finish().
 */
VbQmpFake *
vb_qmp_fake_new(VbQmpFakeFunc func, gpointer user_data, int *out_fd)
{
    return fake_start(func, user_data, NULL, out_fd);
}

/**
 * vb_qmp_fake_new_script:
 * @path: a recording (see qmp-fake.h)
 *
 * Returns: (transfer full): the running peer.
 */
VbQmpFake *
vb_qmp_fake_new_script(const char *path, int *out_fd)
{
    char *script = NULL;

    g_assert_true(g_file_get_contents(path, &script, NULL, NULL));
    return fake_start(run_script, NULL, script, out_fd);
}

/**
 * vb_qmp_fake_finish:
 *
 * Joins the peer's thread and frees it.
 *
 * Returns: (transfer full) (nullable): the first mismatch.
 */
char *
vb_qmp_fake_finish(VbQmpFake *fake)
{
    char *error;

    g_thread_join(fake->thread);
    vb_qmp_fake_close(fake);
    error = g_steal_pointer(&fake->error);
    g_string_free(fake->in, TRUE);
    g_free(fake->script);
    g_free(fake);
    return error;
}
