/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* pthread_setattr_default_np() */
#include "config.h"

#include <errno.h>
#include <pthread.h>

#include "vb-error.h"
#include "vb-thread.h"

/**
 * vb_thread_init_stack_size:
 *
 * Makes VB_THREAD_STACK_SIZE the stack size of every thread created from
 * now on without an explicit size. GThreadPool and g_thread_new() take no
 * stack size; they create their threads with default attributes, which
 * pthread_setattr_default_np() (glibc) sets for the whole process. Call it
 * first thing in main(), before any thread exists.
 *
 * Returns: FALSE with VB_ERROR_FAILED if the C library refuses.
 */
gboolean
vb_thread_init_stack_size(GError **error)
{
    pthread_attr_t attr;
    int r;

    r = pthread_attr_init(&attr);
    if (r == 0) {
        r = pthread_attr_setstacksize(&attr, VB_THREAD_STACK_SIZE);
        if (r == 0)
            r = pthread_setattr_default_np(&attr);
        pthread_attr_destroy(&attr);
    }
    if (r != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                    "cannot set the threads' stack size to %d bytes: %s", VB_THREAD_STACK_SIZE,
                    g_strerror(r));
        return FALSE;
    }
    return TRUE;
}
