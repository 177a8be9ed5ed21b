/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vb-notify.h"

/*
 * The service manager's notification protocol (sd_notify(3)), written out
 * so the service does not link libsystemd for it: that library and what it
 * pulls in (libgcrypt, libgpg-error, liblz4, libzstd, libcap) were 0.85 MiB
 * of virtbusd's resident memory for one datagram at start and one at stop
 * (issue 16, docs/performance.md). The protocol is systemd's documented
 * interface: one datagram of newline-separated assignments to the AF_UNIX
 * socket named by $NOTIFY_SOCKET, a path or, with a leading '@', an
 * abstract address.
 */

/**
 * vb_notify:
 * @state: the assignments, e.g. "READY=1\nSTATUS=..."
 *
 * Sends @state to the service manager, if one asked for it.
 *
 * Returns: %TRUE if it was sent, %FALSE when no manager listens or the
 *   send failed (logged; as sd_notify(), nothing for the caller to do).
 */
gboolean
vb_notify(const char *state)
{
    const char *name = g_getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len, state_len = strlen(state);
    socklen_t sa_len;
    ssize_t n;
    int fd;

    if (name == NULL || *name == '\0')
        return FALSE;
    len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof(sa.sun_path)) {
        g_debug("NOTIFY_SOCKET=%s is not an AF_UNIX socket address: not notified", name);
        return FALSE;
    }
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    /* an abstract address is exactly its bytes; a path ends with its NUL */
    sa_len = offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/' ? 1 : 0);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_debug("notify socket: %s", g_strerror(errno));
        return FALSE;
    }
    do
        n = sendto(fd, state, state_len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        g_debug("notifying %s: %s", name, g_strerror(errno));
    close(fd);
    return n == (ssize_t)state_len;
}
