/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void vb_log_domain(const char *log_domain, GLogLevelFlags level, const char *domain_name,
                   const char *format, ...) G_GNUC_PRINTF(4, 5);

/* Domain-scoped log lines carry VIRTBUS_DOMAIN= for `journalctl VIRTBUS_DOMAIN=vm1`. */
#define VB_LOG_DOMAIN(level, name, ...) vb_log_domain(G_LOG_DOMAIN, level, name, __VA_ARGS__)

void vb_test_kill_point(const char *env, const char *point);

G_END_DECLS
