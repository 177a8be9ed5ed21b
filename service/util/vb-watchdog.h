/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A deadlock watchdog for the tests (issue 14, "Load"): a thread pings a main context every
 * quarter of the timeout; when a ping stays unanswered for the whole timeout, the main loop
 * is stuck (a deadlock, or a blocking call on the main thread), and the watchdog prints a
 * backtrace of every thread of the process on stderr and aborts. virtbusd starts one when
 * VIRTBUS_TEST_WATCHDOG=SECONDS is in its environment (never in production).
 */
typedef struct _VbWatchdog VbWatchdog;

/* Called on the watchdog thread instead of the dump and abort (the unit test). */
typedef void (*VbWatchdogExpired)(guint stuck_ms, gpointer user_data);

VbWatchdog *vb_watchdog_start(GMainContext *context, guint timeout_ms, VbWatchdogExpired expired,
                              gpointer user_data);
VbWatchdog *vb_watchdog_start_from_env(GMainContext *context);
void vb_watchdog_stop(VbWatchdog *wd);
void vb_watchdog_dump_threads(int fd);

G_END_DECLS
