/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *vb_qemu_caps_host_xml(const char *host_uuid, GError **error);
GPtrArray *vb_qemu_caps_find_binaries(void);

G_END_DECLS
