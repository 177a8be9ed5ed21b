/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Display hand-off, keys and screenshots (issue 13, part console): OpenGraphicsFD,
 * Screenshot, SendKey and InjectNMI, as libvirt 9.0's qemuDomainOpenGraphicsFD,
 * qemuDomainScreenshot, qemuDomainSendKey and qemuDomainInjectNMI. Each takes the
 * domain's job (modify; query for a screenshot) and talks to QEMU without the domain
 * lock. Worker threads.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "domain-console.h"
#include "domain-def-console.h"
#include "domain-list-priv.h"
#include "vb-error.h"

#define QMP_TIMEOUT_MS 30000
#define SEND_KEY_MAX_KEYS 16 /* libvirt's VIR_DOMAIN_SEND_KEY_MAX_KEYS */

/* Under the job: the protocol of display @idx ("vnc" or "spice"). */
static char *
graphics_protocol(VbDomainObj *dom, guint idx, GError **error)
{
    g_autoptr(GPtrArray) gs = NULL;
    const VbGraphicsInfo *g;

    g_mutex_lock(&dom->lock);
    gs = vb_domain_def_get_graphics(dom->def);
    g_mutex_unlock(&dom->lock);
    if (idx >= gs->len) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "No graphics backend with index %u (the domain has %u)", idx, gs->len);
        return NULL;
    }
    g = g_ptr_array_index(gs, idx);
    if (g_strcmp0(g->type, "vnc") != 0 && g_strcmp0(g->type, "spice") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "Can only open VNC or SPICE graphics backends, not %s", g->type);
        return NULL;
    }
    return g_strdup(g->type);
}

/**
 * vb_domain_open_graphics_fd:
 * @idx: the index of the <graphics> in the live definition
 * @flags: VB_DOMAIN_OPEN_GRAPHICS_SKIPAUTH
 *
 * Makes a socketpair, gives one end to QEMU's VNC or SPICE server (getfd, add_client)
 * and returns the other: a connected display session for the caller.
 *
 * Returns: the caller's end, or -1 with an error
 */
int
vb_domain_open_graphics_fd(VbDomainList *list, VbDomainObj *dom, guint idx, guint flags,
                           const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "OpenGraphicsFD", owner, error);
    g_autofree char *protocol = NULL;
    g_autoptr(JsonNode) r1 = NULL;
    g_autoptr(JsonNode) r2 = NULL;
    JsonObject *args;
    int sv[2];

    if (mon == NULL)
        return -1;
    protocol = graphics_protocol(dom, idx, error);
    if (protocol == NULL) {
        vb_domain_job_end(dom);
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        int e = errno;

        vb_domain_job_end(dom);
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "socketpair: %s", g_strerror(e));
        return -1;
    }
    args = json_object_new();
    json_object_set_string_member(args, "fdname", "graphicsfd");
    r1 = vb_qemu_monitor_command_with_fd(mon, "getfd", args, sv[1], QMP_TIMEOUT_MS, error);
    close(sv[1]);
    if (r1 != NULL) {
        args = json_object_new();
        json_object_set_string_member(args, "protocol", protocol);
        json_object_set_string_member(args, "fdname", "graphicsfd");
        json_object_set_boolean_member(args, "skipauth",
                                       (flags & VB_DOMAIN_OPEN_GRAPHICS_SKIPAUTH) != 0);
        r2 = vb_qemu_monitor_command(mon, "add_client", args, QMP_TIMEOUT_MS, error);
    }
    vb_domain_job_end(dom);
    if (r2 == NULL) {
        close(sv[0]);
        return -1;
    }
    return sv[0];
}

/* The file QEMU wrote is a PNG: its signature and an IHDR chunk. */
static gboolean
check_png(int fd, GError **error)
{
    static const guchar sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    guchar head[16];

    if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
        memcmp(head, sig, sizeof(sig)) != 0 || memcmp(head + 12, "IHDR", 4) != 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                            "QEMU's screendump did not write a PNG image");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_domain_screenshot:
 * @screen: the screen (the heads of the video devices, in order)
 * @out_mime: (out) (transfer full): the image's MIME type ("image/png")
 *
 * Asks QEMU for a PNG of the screen (screendump format=png, QEMU 7.1+) into a file in
 * the run's runtime directory that the service created, and returns a descriptor of that
 * file, already unlinked, at offset 0.
 *
 * Returns: the descriptor, or -1 with an error
 */
int
vb_domain_screenshot(VbDomainList *list, VbDomainObj *dom, guint screen, const char *owner,
                     char **out_mime, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_QUERY, "Screenshot", owner, error);
    g_autofree char *path = NULL;
    g_autofree char *alias = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args;
    guint head = 0;
    gboolean found;
    int fd;

    if (mon == NULL)
        return -1;
    g_mutex_lock(&dom->lock);
    found = vb_domain_def_find_screen(dom->def, screen, &alias, &head, error);
    if (found)
        path = g_build_filename(dom->runtime_dir, "screenshot-XXXXXX", NULL);
    g_mutex_unlock(&dom->lock);
    if (!found) {
        vb_domain_job_end(dom);
        return -1;
    }
    fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;

        vb_domain_job_end(dom);
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create %s: %s", path, g_strerror(e));
        return -1;
    }
    args = json_object_new();
    json_object_set_string_member(args, "filename", path);
    json_object_set_string_member(args, "format", "png");
    if (screen > 0) {
        json_object_set_string_member(args, "device", alias);
        json_object_set_int_member(args, "head", head);
    }
    r = vb_qemu_monitor_command(mon, "screendump", args, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    g_unlink(path);
    if (r == NULL || !check_png(fd, error)) {
        close(fd);
        return -1;
    }
    *out_mime = g_strdup("image/png");
    return fd;
}

/**
 * vb_domain_send_key:
 * @codeset: libvirt's virKeycodeSet
 * @holdtime: milliseconds to hold the keys (0: QEMU's default)
 * @keycodes: up to 16 keys, pressed together
 *
 * Translates the keys to QEMU's numbers (QNUM) as libvirt does and sends them.
 */
gboolean
vb_domain_send_key(VbDomainList *list, VbDomainObj *dom, guint codeset, guint holdtime,
                   const guint *keycodes, guint n_keycodes, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonArray *keys;
    JsonObject *args;

    if (n_keycodes == 0 || n_keycodes > SEND_KEY_MAX_KEYS) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "SendKey takes 1 to %d keycodes, not %u", SEND_KEY_MAX_KEYS, n_keycodes);
        return FALSE;
    }
    keys = json_array_new();
    for (guint i = 0; i < n_keycodes; i++) {
        JsonObject *k;
        int number = -1;

        if (!vb_keymap_translate(codeset, keycodes[i], NULL, &number, error)) {
            json_array_unref(keys);
            return FALSE;
        }
        k = json_object_new();
        json_object_set_string_member(k, "type", "number");
        json_object_set_int_member(k, "data", number);
        json_array_add_object_element(keys, k);
    }
    mon = vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "SendKey", owner, error);
    if (mon == NULL) {
        json_array_unref(keys);
        return FALSE;
    }
    args = json_object_new();
    json_object_set_array_member(args, "keys", keys);
    if (holdtime > 0)
        json_object_set_int_member(args, "hold-time", holdtime);
    r = vb_qemu_monitor_command(mon, "send-key", args, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    return r != NULL;
}

/* vb_domain_inject_nmi: an NMI to the guest's vCPUs (QEMU's inject-nmi). */
gboolean
vb_domain_inject_nmi(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "InjectNMI", owner, error);
    g_autoptr(JsonNode) r = NULL;

    if (mon == NULL)
        return FALSE;
    r = vb_qemu_monitor_command(mon, "inject-nmi", NULL, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    return r != NULL;
}
