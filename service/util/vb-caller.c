/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "vb-caller.h"

VbCaller *
vb_caller_new(const char *sender, uid_t uid, pid_t pid)
{
    VbCaller *c = g_new0(VbCaller, 1);

    c->refcount = 1;
    c->sender = g_strdup(sender);
    c->uid = uid;
    c->pid = pid;
    return c;
}

VbCaller *
vb_caller_ref(VbCaller *caller)
{
    g_atomic_int_inc(&caller->refcount);
    return caller;
}

void
vb_caller_unref(VbCaller *caller)
{
    if (caller == NULL || !g_atomic_int_dec_and_test(&caller->refcount))
        return;
    g_free(caller->sender);
    g_free(caller);
}
