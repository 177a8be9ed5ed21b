/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The fixture the domain unit tests share (issue 13, part misc): a minimal running-able
 * definition with the given <devices> content.
 */

#include "domain-def.h"

/* A domain @name with @uuid and @devices inside <devices>; fails the test if it does
 * not parse. */
static inline VbDomainDef *
vb_test_domain_def(const char *name, const char *uuid, const char *devices)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = g_strdup_printf("<domain type='qemu'><name>%s</name><uuid>%s</uuid>"
                                           "<memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                                           "<os><type arch='x86_64'>hvm</type></os>"
                                           "<devices>%s</devices></domain>",
                                           name, uuid, devices);
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    g_assert_nonnull(def);
    return def;
}
