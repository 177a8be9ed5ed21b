/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The deadlock watchdog (service/util/vb-watchdog.c): a main loop that answers is left
 * alone; one blocked past the timeout is reported once per stuck ping; and, without a
 * callback (as virtbusd runs it from VIRTBUS_TEST_WATCHDOG), the process aborts after
 * writing a backtrace of each thread, the blocked main thread's showing the blocking
 * function (this program is linked with -rdynamic, so backtrace_symbols_fd names it).
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "vb-watchdog.h"

static gint expiries;

static void
on_expired(guint stuck_ms, gpointer user_data)
{
    g_assert_cmpuint(stuck_ms, >=, GPOINTER_TO_UINT(user_data));
    g_atomic_int_inc(&expiries);
}

static gboolean
quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static gboolean
tick(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static void
test_answering_loop_is_left_alone(void)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    VbWatchdog *wd;
    guint t = g_timeout_add(5, tick, NULL);

    expiries = 0;
    wd = vb_watchdog_start(NULL, 200, on_expired, GUINT_TO_POINTER(200));
    g_timeout_add(1500, quit_loop, loop);
    g_main_loop_run(loop);
    vb_watchdog_stop(wd);
    g_source_remove(t);
    g_assert_cmpint(g_atomic_int_get(&expiries), ==, 0);
}

/* G_GNUC_NO_INLINE and exported: the name the backtrace must show */
G_GNUC_NO_INLINE void vb_test_watchdog_blocking_function(guint ms);

static volatile gint blocked_calls;

G_GNUC_NO_INLINE void
vb_test_watchdog_blocking_function(guint ms)
{
    g_usleep(ms * G_TIME_SPAN_MILLISECOND);
    blocked_calls++; /* after the sleep: no tail call, the frame stays on the stack */
}

static gboolean
block_loop(gpointer data)
{
    vb_test_watchdog_blocking_function(GPOINTER_TO_UINT(data));
    return G_SOURCE_REMOVE;
}

static void
test_stuck_loop_is_reported(void)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    VbWatchdog *wd;

    expiries = 0;
    wd = vb_watchdog_start(NULL, 300, on_expired, GUINT_TO_POINTER(300));
    g_idle_add(block_loop, GUINT_TO_POINTER(1200));
    g_timeout_add(1800, quit_loop, loop);
    g_main_loop_run(loop);
    /* once for the one stuck ping, however long it stayed stuck */
    g_assert_cmpint(g_atomic_int_get(&expiries), ==, 1);
    /* and the loop answers again: nothing more */
    g_timeout_add(800, quit_loop, loop);
    g_main_loop_run(loop);
    vb_watchdog_stop(wd);
    g_assert_cmpint(g_atomic_int_get(&expiries), ==, 1);
}

static gpointer
idle_thread(gpointer data)
{
    g_usleep(10 * G_USEC_PER_SEC);
    return NULL;
}

static void
test_stuck_loop_aborts_with_backtraces(void)
{
    if (g_test_subprocess()) {
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);

        g_thread_new("some-worker", idle_thread, NULL);
        g_setenv("VIRTBUS_TEST_WATCHDOG", "1", TRUE);
        (void)vb_watchdog_start_from_env(NULL);
        g_idle_add(block_loop, GUINT_TO_POINTER(8000));
        g_main_loop_run(loop);
        exit(0); /* not reached: the watchdog aborts */
    }
    g_test_trap_subprocess(NULL, 20 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*main loop has not answered for*VIRTBUS_TEST_WATCHDOG*");
    g_test_trap_assert_stderr("*--- thread * (some-worker) ---*");
    g_test_trap_assert_stderr("*the main thread ---*vb_test_watchdog_blocking_function*");
    g_test_trap_assert_stderr("*virtbusd watchdog: abort*");
}

static void
test_env_values(void)
{
    g_unsetenv("VIRTBUS_TEST_WATCHDOG");
    g_assert_null(vb_watchdog_start_from_env(NULL));
    g_setenv("VIRTBUS_TEST_WATCHDOG", "", TRUE);
    g_assert_null(vb_watchdog_start_from_env(NULL));
    if (g_test_subprocess()) {
        g_setenv("VIRTBUS_TEST_WATCHDOG", "soon", TRUE);
        g_assert_null(vb_watchdog_start_from_env(NULL));
        exit(0);
    }
    g_test_trap_subprocess("/watchdog/env-values", 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_stderr("*VIRTBUS_TEST_WATCHDOG=soon is not a number of seconds*");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/watchdog/answering-loop", test_answering_loop_is_left_alone);
    g_test_add_func("/watchdog/stuck-loop-reported", test_stuck_loop_is_reported);
    g_test_add_func("/watchdog/stuck-loop-aborts", test_stuck_loop_aborts_with_backtraces);
    g_test_add_func("/watchdog/env-values", test_env_values);
    return g_test_run();
}
