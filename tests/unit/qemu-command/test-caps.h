/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "qemu-caps.h"

/* QEMU 7.2 x86_64 capabilities built by hand; @kvm sets kvm_available */
VbQemuCaps *test_caps_new(gboolean kvm);
void test_caps_free(VbQemuCaps *caps);
