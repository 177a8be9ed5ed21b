/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "domain-list-priv.h"
#include "vb-error.h"

/*
 * Ports for autoport displays (and, later, incoming migrations): the
 * lowest port of the configured range that no domain of ours holds and
 * that nothing else on the host listens on.
 */

static gboolean
port_is_free(guint port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_ANY) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    gboolean ok;

    if (fd < 0)
        return FALSE;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

/**
 * vb_domain_ports_acquire:
 * @min: first port of the range
 * @max: last port of the range
 *
 * Returns: a port now reserved for the caller, or -1 with Failed when the
 *   range is exhausted.
 */
int
vb_domain_ports_acquire(VbDomainList *list, guint min, guint max, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&list->ports_lock);

    if (list->used_ports == NULL)
        list->used_ports = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (guint p = min; p <= max; p++) {
        if (g_hash_table_contains(list->used_ports, GUINT_TO_POINTER(p)) || !port_is_free(p))
            continue;
        g_hash_table_add(list->used_ports, GUINT_TO_POINTER(p));
        return (int)p;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "no free port in the range %u-%u", min, max);
    return -1;
}

/*
 * Gives back a port from vb_domain_ports_acquire(); -1 is ignored. Takes
 * only the leaf ports_lock, so any thread may call it, with any lock held.
 */
void
vb_domain_ports_release(VbDomainList *list, int port)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&list->ports_lock);

    if (port > 0 && list->used_ports != NULL)
        g_hash_table_remove(list->used_ports, GUINT_TO_POINTER(port));
}
