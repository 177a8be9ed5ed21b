/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every thread of virtbusd has VB_THREAD_STACK_SIZE of stack, whatever
 * RLIMIT_STACK says: the test lowers the limit to 256 KiB (the default
 * stack of new threads follows it) and checks the threads GLib makes —
 * g_thread_new() and a GThreadPool's — after vb_thread_init_stack_size().
 */
#define _GNU_SOURCE /* pthread_getattr_np() */
#include "config.h"

#include <pthread.h>
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vb-thread.h"

static gsize
own_stack_size(void)
{
    pthread_attr_t attr;
    gsize size = 0;

    g_assert_cmpint(pthread_getattr_np(pthread_self(), &attr), ==, 0);
    g_assert_cmpint(pthread_attr_getstacksize(&attr, &size), ==, 0);
    pthread_attr_destroy(&attr);
    return size;
}

static gpointer
report_size(gpointer data)
{
    return GSIZE_TO_POINTER(own_stack_size());
}

static void
pool_func(gpointer data, gpointer user_data)
{
    g_async_queue_push(user_data, GSIZE_TO_POINTER(own_stack_size()));
}

static gsize
pool_thread_size(void)
{
    g_autoptr(GAsyncQueue) q = g_async_queue_new();
    GThreadPool *pool = g_thread_pool_new(pool_func, q, 2, FALSE, NULL);
    gsize size;

    g_thread_pool_push(pool, GINT_TO_POINTER(1), NULL);
    size = GPOINTER_TO_SIZE(g_async_queue_pop(q));
    g_thread_pool_free(pool, FALSE, TRUE);
    return size;
}

static void
test_stack_size(void)
{
    g_autoptr(GError) error = NULL;
    gsize before;

    /* without the call, a thread's stack follows RLIMIT_STACK (set in main) */
    before = GPOINTER_TO_SIZE(g_thread_join(g_thread_new("before", report_size, NULL)));
    g_assert_cmpuint(before, <, VB_THREAD_STACK_SIZE);

    g_assert_true(vb_thread_init_stack_size(&error));
    g_assert_no_error(error);
    g_assert_cmpuint(GPOINTER_TO_SIZE(g_thread_join(g_thread_new("after", report_size, NULL))),
                     >=, VB_THREAD_STACK_SIZE);
    g_assert_cmpuint(pool_thread_size(), >=, VB_THREAD_STACK_SIZE);
}

int
main(int argc, char **argv)
{
    struct rlimit lim;

    /* glibc reads RLIMIT_STACK for the default thread stack at start-up:
     * re-exec with a 256 KiB limit */
    g_assert_cmpint(getrlimit(RLIMIT_STACK, &lim), ==, 0);
    if (lim.rlim_cur != 256 * 1024) {
        lim.rlim_cur = 256 * 1024;
        g_assert_cmpint(setrlimit(RLIMIT_STACK, &lim), ==, 0);
        execv("/proc/self/exe", argv);
        g_printerr("cannot re-exec: %s\n", g_strerror(errno));
        return 1;
    }
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/util/thread/stack-size", test_stack_size);
    return g_test_run();
}
