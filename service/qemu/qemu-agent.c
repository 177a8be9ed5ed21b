/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest agent client (see qemu-agent.h): a non-blocking unix socket, poll() with a
 * deadline, guest-sync-delimited before the command, one reply line per command.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qemu-agent.h"
#include "qemu-json-check.h"
#include "vb-error.h"

#define SENTINEL '\xff'

struct _VbQemuAgent {
    int fd;
    int cancel_fd; /* eventfd: vb_qemu_agent_cancel() */
    char *path;
    GByteArray *buf; /* bytes read and not consumed yet */
};

/**
 * vb_qemu_agent_open:
 * @path: the unix socket QEMU listens on for the agent channel
 * @error: AgentUnresponsive when it cannot be reached
 *
 * Connects (without blocking) to the agent channel's socket.
 *
 * Returns: (transfer full) (nullable): the connection
 */
VbQemuAgent *
vb_qemu_agent_open(const char *path, GError **error)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    VbQemuAgent *agent;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE,
                    "QEMU guest agent is not connected: socket path '%s' is too long", path);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        if (fd >= 0)
            close(fd);
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE,
                    "QEMU guest agent is not connected: cannot connect to '%s': %s", path,
                    g_strerror(e));
        return NULL;
    }
    agent = g_new0(VbQemuAgent, 1);
    agent->fd = fd;
    agent->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    agent->path = g_strdup(path);
    agent->buf = g_byte_array_new();
    return agent;
}

/**
 * vb_qemu_agent_free:
 * @agent: (nullable): a connection; closed
 */
void
vb_qemu_agent_free(VbQemuAgent *agent)
{
    if (agent == NULL)
        return;
    close(agent->fd);
    if (agent->cancel_fd >= 0)
        close(agent->cancel_fd);
    g_free(agent->path);
    g_byte_array_unref(agent->buf);
    g_free(agent);
}

/**
 * vb_qemu_agent_cancel:
 * @agent: a connection another thread may be waiting on
 *
 * Makes the current (or next) wait on @agent fail with Aborted at once. Any thread.
 */
void
vb_qemu_agent_cancel(VbQemuAgent *agent)
{
    guint64 one = 1;

    if (agent->cancel_fd >= 0 && write(agent->cancel_fd, &one, sizeof(one)) < 0)
        g_debug("agent cancel: %s", g_strerror(errno));
}

static void
set_timeout_error(GError **error, const char *what)
{
    g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                "QEMU guest agent timed out: no answer to '%s' in time (is qemu-ga running "
                "in the guest?)", what);
}

/* Waits until @fd is ready for @events or the deadline passes. */
static gboolean
wait_fd(VbQemuAgent *agent, short events, gint64 deadline, const char *what, GError **error)
{
    for (;;) {
        struct pollfd p[2] = { { .fd = agent->fd, .events = events },
                               { .fd = agent->cancel_fd, .events = POLLIN } };
        gint64 left = deadline - g_get_monotonic_time();
        int r;

        if (left <= 0) {
            set_timeout_error(error, what);
            return FALSE;
        }
        r = poll(p, agent->cancel_fd >= 0 ? 2 : 1, (int)MIN((left + 999) / 1000, G_MAXINT));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE,
                        "QEMU guest agent: poll failed: %s", g_strerror(errno));
            return FALSE;
        }
        if (agent->cancel_fd >= 0 && (p[1].revents & POLLIN)) {
            g_set_error(error, VB_ERROR, VB_ERROR_ABORTED,
                        "QEMU guest agent command '%s' was cancelled", what);
            return FALSE;
        }
        if (p[0].revents != 0)
            return TRUE;
    }
}

static gboolean
send_all(VbQemuAgent *agent, const char *data, gsize len, gint64 deadline, const char *what,
         GError **error)
{
    while (len > 0) {
        ssize_t n = send(agent->fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(agent, POLLOUT, deadline, what, error))
                return FALSE;
            continue;
        }
        if (n < 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE,
                        "QEMU guest agent is not connected: sending '%s' failed: %s", what,
                        g_strerror(errno));
            return FALSE;
        }
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* Reads what is there into agent->buf, waiting for at least one byte. */
static gboolean
read_more(VbQemuAgent *agent, gint64 deadline, const char *what, GError **error)
{
    guint8 chunk[4096];

    if (agent->buf->len > VB_QEMU_AGENT_MAX_REPLY) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "QEMU guest agent: the reply to '%s' is longer than %u bytes", what,
                    VB_QEMU_AGENT_MAX_REPLY);
        return FALSE;
    }
    for (;;) {
        ssize_t n = recv(agent->fd, chunk, sizeof(chunk), 0);

        if (n > 0) {
            g_byte_array_append(agent->buf, chunk, (guint)n);
            return TRUE;
        }
        if (n == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE,
                        "QEMU guest agent is not connected: the channel closed while "
                        "waiting for '%s'", what);
            return FALSE;
        }
        if (errno != EAGAIN && errno != EINTR) {
            g_set_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE,
                        "QEMU guest agent is not connected: reading failed: %s",
                        g_strerror(errno));
            return FALSE;
        }
        if (errno == EAGAIN && !wait_fd(agent, POLLIN, deadline, what, error))
            return FALSE;
    }
}

/* Takes the next line (without its newline) from the buffer, reading as needed. */
static char *
read_line(VbQemuAgent *agent, gint64 deadline, const char *what, GError **error)
{
    for (;;) {
        guint8 *nl = agent->buf->len > 0 ? memchr(agent->buf->data, '\n', agent->buf->len)
                                         : NULL;

        if (nl != NULL) {
            gsize len = (gsize)(nl - agent->buf->data);
            char *line = g_strndup((const char *)agent->buf->data, len);

            g_byte_array_remove_range(agent->buf, 0, (guint)len + 1);
            return line;
        }
        if (!read_more(agent, deadline, what, error))
            return NULL;
    }
}

/* Parses one reply line: strict JSON, bounded nesting, an object. */
static JsonObject *
parse_reply(const char *line, const char *what, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    gsize len = strlen(line);
    JsonNode *root;

    if (vb_qemu_json_check(line, len, VB_QEMU_JSON_MAX_DEPTH, NULL) != VB_QEMU_JSON_CHECK_OK ||
        !json_parser_load_from_data(parser, line, (gssize)len, &err) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "QEMU guest agent sent a malformed reply to '%s'%s%s", what,
                    err != NULL ? ": " : "", err != NULL ? err->message : "");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

/**
 * vb_qemu_agent_sync:
 * @agent: a connection
 * @deadline: monotonic µs after which it gives up (OperationTimeout)
 *
 * guest-sync-delimited with a random id: drops anything stale a previous user of the
 * channel left (replies that came too late), so the next reply read is the next command's.
 *
 * Returns: whether qemu-ga answered with our id
 */
gboolean
vb_qemu_agent_sync(VbQemuAgent *agent, gint64 deadline, GError **error)
{
    const char *what = "guest-sync-delimited";
    gint64 id = g_random_int_range(1, G_MAXINT32);
    g_autofree char *cmd = g_strdup_printf("%c{\"execute\":\"%s\",\"arguments\":"
                                           "{\"id\":%" G_GINT64_FORMAT "}}\n",
                                           SENTINEL, what, id);

    g_byte_array_set_size(agent->buf, 0);
    if (!send_all(agent, cmd, strlen(cmd), deadline, what, error))
        return FALSE;
    for (;;) {
        g_autofree char *line = NULL;
        g_autoptr(JsonObject) reply = NULL;
        guint8 *s;

        /* everything before qemu-ga's sentinel is stale (or its answer to our 0xFF) */
        while (agent->buf->len == 0 ||
               (s = memchr(agent->buf->data, SENTINEL, agent->buf->len)) == NULL) {
            g_byte_array_set_size(agent->buf, 0);
            if (!read_more(agent, deadline, what, error))
                return FALSE;
        }
        g_byte_array_remove_range(agent->buf, 0, (guint)(s - agent->buf->data) + 1);
        line = read_line(agent, deadline, what, error);
        if (line == NULL)
            return FALSE;
        reply = parse_reply(line, what, NULL);
        if (reply != NULL && json_object_has_member(reply, "return")) {
            JsonNode *r = json_object_get_member(reply, "return");

            if (JSON_NODE_HOLDS_VALUE(r) && json_node_get_value_type(r) == G_TYPE_INT64 &&
                json_node_get_int(r) == id)
                return TRUE;
        }
        g_debug("agent %s: skipping a stale reply: %.200s", agent->path, line);
    }
}

/**
 * vb_qemu_agent_command:
 * @agent: a synchronised connection (vb_qemu_agent_sync())
 * @command: the command's name
 * @args: (nullable) (transfer none): its arguments
 * @deadline: monotonic µs after which it gives up (OperationTimeout)
 *
 * Returns: (transfer full) (nullable): the "return" member of the reply; the guest's
 *   error is AgentCommandFailed with qemu-ga's class and text
 */
static char *
command_text(const char *command, JsonObject *args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *json = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (args != NULL) {
        JsonNode *a = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(a, args);
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, a);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json = json_generator_to_data(gen, NULL);
    return g_strconcat(json, "\n", NULL);
}

/* A string member of @o, or "" when it is missing or not a string. */
static const char *
string_member(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return "";
    return json_node_get_string(n);
}

/* Reads the next non-empty reply line and parses it; the guest's error is an error. */
static JsonObject *
read_reply(VbQemuAgent *agent, gint64 deadline, const char *command, GError **error)
{
    g_autofree char *line = NULL;
    g_autoptr(JsonObject) reply = NULL;

    do {
        g_free(line);
        line = read_line(agent, deadline, command, error);
        if (line == NULL)
            return NULL;
        g_strstrip(line);
    } while (*line == '\0');
    reply = parse_reply(line, command, error);
    if (reply == NULL)
        return NULL;
    if (json_object_has_member(reply, "error")) {
        /* the guest writes this: every member may have any type */
        JsonNode *en = json_object_get_member(reply, "error");
        JsonObject *e = JSON_NODE_HOLDS_OBJECT(en) ? json_node_get_object(en) : NULL;
        const char *cls = string_member(e, "class");
        const char *desc = string_member(e, "desc");

        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "unable to execute QEMU agent command '%s': %s%s%s", command, desc,
                    *cls != '\0' ? " " : "", *cls != '\0' ? cls : "");
        return NULL;
    }
    if (!json_object_has_member(reply, "return")) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "QEMU guest agent sent a reply to '%s' without 'return'", command);
        return NULL;
    }
    return g_steal_pointer(&reply);
}

JsonNode *
vb_qemu_agent_command(VbQemuAgent *agent, const char *command, JsonObject *args,
                      gint64 deadline, GError **error)
{
    g_autofree char *text = command_text(command, args);
    g_autoptr(JsonObject) reply = NULL;

    if (!send_all(agent, text, strlen(text), deadline, command, error))
        return NULL;
    reply = read_reply(agent, deadline, command, error);
    if (reply == NULL)
        return NULL;
    return json_node_copy(json_object_get_member(reply, "return"));
}

/**
 * vb_qemu_agent_command_noreply:
 * @agent: a synchronised connection
 * @command: a command qemu-ga answers only when it fails (guest-shutdown: its QAPI
 *   schema has 'success-response': false)
 * @args: (nullable) (transfer none): its arguments
 * @deadline: how long to wait for an error reply (monotonic µs)
 *
 * Sends @command and waits until @deadline for an error. No reply by then, or the channel
 * closing (the guest went away), is success, as libvirt's qemuAgentShutdown treats it.
 *
 * Returns: FALSE with AgentCommandFailed (the guest's error) or a send error
 */
gboolean
vb_qemu_agent_command_noreply(VbQemuAgent *agent, const char *command, JsonObject *args,
                              gint64 deadline, GError **error)
{
    g_autofree char *text = command_text(command, args);
    g_autoptr(JsonObject) reply = NULL;
    g_autoptr(GError) err = NULL;

    if (!send_all(agent, text, strlen(text), deadline, command, error))
        return FALSE;
    reply = read_reply(agent, deadline, command, &err);
    if (reply != NULL || g_error_matches(err, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT) ||
        g_error_matches(err, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE))
        return TRUE;
    g_propagate_error(error, g_steal_pointer(&err));
    return FALSE;
}

/**
 * vb_qemu_agent_command_text:
 * @agent: a synchronised connection
 * @json: a command as JSON text, already checked (an object with "execute")
 * @deadline: monotonic µs; 0 sends without waiting for a reply (NOWAIT)
 *
 * QemuAgentCommand's exchange: the command as the caller wrote it, the whole reply back.
 *
 * Returns: (transfer full) (nullable): the reply as JSON text ("" when not waited for)
 */
char *
vb_qemu_agent_command_text(VbQemuAgent *agent, const char *json, gint64 deadline,
                           GError **error)
{
    g_autofree char *text = g_strconcat(json, "\n", NULL);
    g_autoptr(JsonObject) reply = NULL;
    g_autoptr(JsonNode) root = NULL;
    gint64 send_deadline = deadline != 0 ? deadline
                                         : g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    if (!send_all(agent, text, strlen(text), send_deadline, "command", error))
        return NULL;
    if (deadline == 0)
        return g_strdup("");
    reply = read_reply(agent, deadline, "command", error);
    if (reply == NULL)
        return NULL;
    root = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(root, reply);
    return json_to_string(root, FALSE);
}

/**
 * vb_qemu_agent_run:
 * @path: the agent channel's socket
 * @command: a command name
 * @args: (nullable) (transfer none): its arguments
 * @timeout_ms: the most the whole exchange (connect, sync, command) may take
 *
 * One command on a connection of its own. Blocks the calling (worker) thread at most
 * @timeout_ms.
 *
 * Returns: (transfer full) (nullable): the reply's "return" member
 */
JsonNode *
vb_qemu_agent_run(const char *path, const char *command, JsonObject *args, guint timeout_ms,
                  GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(VbQemuAgent) agent = vb_qemu_agent_open(path, error);

    if (agent == NULL || !vb_qemu_agent_sync(agent, deadline, error))
        return NULL;
    return vb_qemu_agent_command(agent, command, args, deadline, error);
}

/* ---- guest-network-get-interfaces ---- */

/* A string member of @o, or NULL when missing or of another type (the guest writes it). */
static const char *
string_or_null(JsonObject *o, const char *name)
{
    const char *v = string_member(o, name);

    return o != NULL && json_object_has_member(o, name) &&
                   JSON_NODE_HOLDS_VALUE(json_object_get_member(o, name)) &&
                   json_node_get_value_type(json_object_get_member(o, name)) == G_TYPE_STRING
               ? v
               : NULL;
}

/**
 * vb_guest_interface_new:
 * @name: (nullable): its name
 * @hwaddr: (nullable): its MAC
 *
 * Returns: (transfer full): an interface without addresses
 */
VbGuestInterface *
vb_guest_interface_new(const char *name, const char *hwaddr)
{
    VbGuestInterface *iface = g_new0(VbGuestInterface, 1);

    iface->name = g_strdup(name);
    iface->hwaddr = g_strdup(hwaddr);
    iface->addrs = g_array_new(FALSE, TRUE, sizeof(VbGuestIPAddress));
    return iface;
}

/**
 * vb_guest_interface_add:
 * @iface: an interface
 * @addr: an address (copied)
 * @type: 0 IPv4, 1 IPv6
 * @prefix: its prefix length
 */
void
vb_guest_interface_add(VbGuestInterface *iface, const char *addr, guint type, guint prefix)
{
    VbGuestIPAddress a = { g_strdup(addr), type, prefix };

    g_array_append_val(iface->addrs, a);
}

/**
 * vb_guest_interface_free:
 * @iface: (nullable): an interface
 */
void
vb_guest_interface_free(VbGuestInterface *iface)
{
    if (iface == NULL)
        return;
    for (guint i = 0; i < iface->addrs->len; i++)
        g_free(g_array_index(iface->addrs, VbGuestIPAddress, i).addr);
    g_array_unref(iface->addrs);
    g_free(iface->name);
    g_free(iface->hwaddr);
    g_free(iface);
}

static gboolean
parse_one_address(VbGuestInterface *iface, JsonNode *node, const char *name, GError **error)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    JsonNode *p = o != NULL ? json_object_get_member(o, "prefix") : NULL;
    const char *type = string_or_null(o, "ip-address-type");
    const char *addr = string_or_null(o, "ip-address");
    gint64 prefix;

    if (type == NULL || (strcmp(type, "ipv4") != 0 && strcmp(type, "ipv6") != 0)) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "QEMU guest agent gave no known 'ip-address-type' for interface '%s'", name);
        return FALSE;
    }
    if (addr == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "QEMU guest agent gave no 'ip-address' for interface '%s'", name);
        return FALSE;
    }
    if (p == NULL || !JSON_NODE_HOLDS_VALUE(p) || json_node_get_value_type(p) != G_TYPE_INT64 ||
        (prefix = json_node_get_int(p)) < 0 || prefix > 128) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "QEMU guest agent gave a malformed 'prefix' for interface '%s'", name);
        return FALSE;
    }
    vb_guest_interface_add(iface, addr, strcmp(type, "ipv4") == 0 ? 0 : 1, (guint)prefix);
    return TRUE;
}

static gboolean
parse_one_interface(GPtrArray *out, GHashTable *by_name, JsonNode *node, GError **error)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *name = string_or_null(o, "name");
    g_autofree char *ifname = NULL;
    VbGuestInterface *iface;
    JsonNode *addrs;

    if (name == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                            "QEMU guest agent gave an interface without 'name'");
        return FALSE;
    }
    /* an alias "eth0:1" adds its addresses to "eth0", as libvirt does */
    ifname = g_strndup(name, strcspn(name, ":"));
    iface = g_hash_table_lookup(by_name, ifname);
    if (iface == NULL) {
        iface = vb_guest_interface_new(ifname, string_or_null(o, "hardware-address"));
        g_ptr_array_add(out, iface);
        g_hash_table_insert(by_name, g_strdup(ifname), iface);
    }
    addrs = json_object_get_member(o, "ip-addresses");
    if (addrs == NULL)
        return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(addrs)) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "QEMU guest agent gave a malformed 'ip-addresses' for interface '%s'",
                    name);
        return FALSE;
    }
    for (guint j = 0; j < json_array_get_length(json_node_get_array(addrs)); j++) {
        if (!parse_one_address(iface, json_array_get_element(json_node_get_array(addrs), j),
                               name, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_agent_parse_interfaces:
 * @ret: the "return" member of guest-network-get-interfaces
 *
 * Reads the guest's interfaces as libvirt does (qemuAgentGetInterfaces): every interface
 * (loopback too), an alias "NAME:N" merged into NAME, addresses typed ipv4 (0) or ipv6 (1)
 * with their prefix; a missing field is an AgentCommandFailed error naming it.
 *
 * Returns: (transfer full) (element-type VbGuestInterface) (nullable): the interfaces
 */
GPtrArray *
vb_qemu_agent_parse_interfaces(JsonNode *ret, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vb_guest_interface_free);
    g_autoptr(GHashTable) by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                          NULL);
    JsonArray *arr;

    if (ret == NULL || !JSON_NODE_HOLDS_ARRAY(ret)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                            "QEMU guest agent didn't return an array of interfaces");
        return NULL;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        if (!parse_one_interface(out, by_name, json_array_get_element(arr, i), error))
            return NULL;
    }
    return g_steal_pointer(&out);
}
