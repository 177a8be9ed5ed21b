/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GLib logging for the fuzz targets: a WARNING, CRITICAL or ERROR of any log domain (GLib,
 * GLib-GObject, Json, virtbus-*, ...) prints the message and aborts, so libFuzzer records the
 * input as a crash; a critical is a programming error, and nothing an input can contain may
 * make the parsers warn (they report bad input through GError). Less severe messages are
 * dropped. Call vb_fuzz_log_install() once, from LLVMFuzzerInitialize(). With
 * VB_FUZZ_SELFTEST=critical|warning|leak in the environment it plants that defect, so that
 * fuzz/run-fuzz.sh can check the run catches it.
 */
#pragma once

#include <stdlib.h>

#include <glib.h>

static GLogWriterOutput
vb_fuzz_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                   gpointer user_data)
{
    if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) == 0)
        return G_LOG_WRITER_HANDLED;
    g_log_writer_standard_streams(level, fields, n_fields, user_data);
    abort();
}

static gpointer
vb_fuzz_leak_thread(gpointer data)
{
    /* the only pointer to it dies with this thread's stack */
    return g_strdup("self-test: a leak must fail the fuzz run") != NULL ? NULL : data;
}

static inline void
vb_fuzz_log_install(void)
{
    const char *selftest = g_getenv("VB_FUZZ_SELFTEST");

    /* g_log() without a handler of its own ends in the structured writer too */
    g_log_set_writer_func(vb_fuzz_log_writer, NULL, NULL);
    g_log_set_always_fatal(G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);

    /* fuzz/run-fuzz.sh plants each defect once: the run must catch it */
    if (g_strcmp0(selftest, "critical") == 0)
        g_critical("self-test: a critical must abort the fuzzer");
    else if (g_strcmp0(selftest, "warning") == 0)
        g_log("Json", G_LOG_LEVEL_WARNING, "self-test: a library's warning must abort it");
    else if (g_strcmp0(selftest, "leak") == 0)
        g_thread_join(g_thread_new("leak", vb_fuzz_leak_thread, NULL));
}
