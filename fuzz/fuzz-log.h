/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GLib logging for the fuzz targets: a WARNING, CRITICAL or ERROR of any log domain (GLib,
 * GLib-GObject, Json, virtbus-*, ...) prints the message and aborts, so libFuzzer records the
 * input as a crash; a critical is a programming error, and nothing an input can contain may
 * make the parsers warn (they report bad input through GError). Less severe messages are
 * dropped. Call vb_fuzz_log_install() once, from LLVMFuzzerInitialize().
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

static inline void
vb_fuzz_log_install(void)
{
    /* g_log() without a handler of its own ends in the structured writer too */
    g_log_set_writer_func(vb_fuzz_log_writer, NULL, NULL);
    g_log_set_always_fatal(G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}
