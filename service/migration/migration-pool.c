/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "migration-priv.h"
#include "migration-remote.h"
#include "vb-log.h"

/*
 * Connections to other hosts' services, kept for the next peer-to-peer
 * migration to the same place (an evacuation moves many guests to one
 * host). Over ssh a new connection costs a TCP and ssh handshake, the key
 * exchange and a bridge start: ~0.2 s here, more across a real network.
 *
 * A connection is taken out while a migration uses it (never shared by two
 * at once: the destination ties each incoming domain to the connection's
 * bus name until Finish, so one connection per migration keeps that tie
 * meaning what it meant) and given back when the migration ends. An idle
 * connection is closed after POOL_IDLE_S, when it closed by itself (ssh's
 * keepalive, the remote bus went away), or at the service's end. Closing
 * blocks (vb_remote_close waits for ssh), so it happens on a thread of its
 * own, never on the main thread or in the job that gave it back.
 *
 * Key: the URI and the options that make the ssh command line.
 */

#define POOL_IDLE_S 30
#define POOL_MAX_IDLE 16

typedef struct {
    char *key;
    GDBusConnection *conn;
    gint64 since; /* monotonic µs */
} Idle;

static GMutex pool_lock;
static GQueue pool_idle = G_QUEUE_INIT; /* Idle*, oldest first; under pool_lock */
static guint pool_timer;                /* under pool_lock */
static gboolean pool_closed;            /* under pool_lock: the service ends */

static char *
pool_key(const char *uri, const VbRemoteOptions *opts)
{
    return g_strdup_printf("%s\n%s\n%u/%u", uri, opts->ssh_config != NULL ? opts->ssh_config : "",
                           opts->keepalive_interval, opts->keepalive_count);
}

static void
idle_free(Idle *i)
{
    g_free(i->key);
    g_clear_object(&i->conn);
    g_free(i);
}

static gpointer
close_thread(gpointer data)
{
    GPtrArray *conns = data;

    for (guint i = 0; i < conns->len; i++)
        vb_remote_close(g_ptr_array_index(conns, i));
    g_ptr_array_unref(conns);
    return NULL;
}

/* Closes @conns (GDBusConnection*, taken) on a thread of their own. */
static void
close_later(GPtrArray *conns)
{
    GThread *t;

    if (conns->len == 0) {
        g_ptr_array_unref(conns);
        return;
    }
    t = g_thread_try_new("vb-remote-close", close_thread, conns, NULL);
    if (t != NULL)
        g_thread_unref(t);
    else
        close_thread(conns);
}

/* Moves the idle connections that expired (or all) to @out. Under pool_lock. */
static void
expire_locked(GPtrArray *out, gboolean all)
{
    gint64 now = g_get_monotonic_time();
    GList *l = pool_idle.head;

    while (l != NULL) {
        GList *next = l->next;
        Idle *i = l->data;

        if (all || now - i->since >= (gint64)POOL_IDLE_S * G_USEC_PER_SEC ||
            g_dbus_connection_is_closed(i->conn)) {
            g_ptr_array_add(out, g_steal_pointer(&i->conn));
            idle_free(i);
            g_queue_delete_link(&pool_idle, l);
        }
        l = next;
    }
}

static gboolean
on_timer(gpointer data)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    gboolean again;

    g_mutex_lock(&pool_lock);
    expire_locked(out, FALSE);
    again = !g_queue_is_empty(&pool_idle);
    if (!again)
        pool_timer = 0;
    g_mutex_unlock(&pool_lock);
    close_later(out);
    return again ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/**
 * vb_migration_pool_take:
 * @uri: the destination (see vb_remote_connect())
 *
 * An idle connection to @uri made with the same options, or a new one.
 * Blocks while connecting: job threads.
 *
 * Returns: (transfer full): the connection; give it back with
 *   vb_migration_pool_give().
 */
GDBusConnection *
vb_migration_pool_take(const char *uri, const VbRemoteOptions *opts, GError **error)
{
    g_autofree char *key = pool_key(uri, opts);
    GDBusConnection *conn = NULL;
    g_autoptr(GPtrArray) dead = g_ptr_array_new_with_free_func(g_object_unref);

    g_mutex_lock(&pool_lock);
    for (GList *l = pool_idle.tail; l != NULL; l = l->prev) {
        Idle *i = l->data;

        if (strcmp(i->key, key) != 0 || g_dbus_connection_is_closed(i->conn))
            continue;
        conn = g_steal_pointer(&i->conn);
        idle_free(i);
        g_queue_delete_link(&pool_idle, l); /* l is gone: leave the loop now */
        break;
    }
    expire_locked(dead, FALSE);
    g_mutex_unlock(&pool_lock);
    close_later(g_steal_pointer(&dead));
    if (conn != NULL) {
        g_debug("reusing the connection to %s", uri);
        return conn;
    }
    return vb_remote_connect(uri, opts, NULL, error);
}

/**
 * vb_migration_pool_give:
 * @conn: (transfer full) (nullable): a connection from vb_migration_pool_take()
 * @reusable: whether the migration ended cleanly on it; a connection that
 *   failed a call, or was used while something went wrong, is closed
 *
 * Keeps @conn for the next migration to the same place, or closes it and
 * waits for ssh to end (up to ~5 s, see vb_remote_close()). Job threads.
 */
void
vb_migration_pool_give(const char *uri, const VbRemoteOptions *opts, GDBusConnection *conn,
                       gboolean reusable)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_object_unref);
    Idle *i;

    if (conn == NULL)
        return;
    g_mutex_lock(&pool_lock);
    if (!reusable || pool_closed || g_dbus_connection_is_closed(conn)) {
        g_mutex_unlock(&pool_lock);
        /* as before the pool: ssh has ended when the job ends */
        vb_remote_close(conn);
        g_object_unref(conn);
        return;
    }
    i = g_new0(Idle, 1);
    i->key = pool_key(uri, opts);
    i->conn = conn;
    i->since = g_get_monotonic_time();
    g_queue_push_tail(&pool_idle, i);
    while (g_queue_get_length(&pool_idle) > POOL_MAX_IDLE) {
        Idle *old = g_queue_pop_head(&pool_idle);

        g_ptr_array_add(out, g_steal_pointer(&old->conn));
        idle_free(old);
    }
    if (pool_timer == 0)
        pool_timer = g_timeout_add_seconds(POOL_IDLE_S / 3, on_timer, NULL);
    g_mutex_unlock(&pool_lock);
    close_later(g_steal_pointer(&out));
}

/**
 * vb_migration_pool_shutdown:
 *
 * Closes every idle connection and waits for it (ssh ended and reaped);
 * connections given back later are closed at once. Main thread, at the
 * service's end, after the jobs ended.
 */
void
vb_migration_pool_shutdown(void)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_object_unref);

    g_mutex_lock(&pool_lock);
    pool_closed = TRUE;
    expire_locked(out, TRUE);
    if (pool_timer != 0) {
        g_source_remove(pool_timer);
        pool_timer = 0;
    }
    g_mutex_unlock(&pool_lock);
    for (guint i = 0; i < out->len; i++)
        vb_remote_close(g_ptr_array_index(out, i));
}
