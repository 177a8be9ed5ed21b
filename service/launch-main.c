/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "qemu-launch.h"

/*
 * virtbus-launch: the QEMU launcher as a program of its own (service/qemu/qemu-launcher.c).
 * virtbusd runs it as `virtbus-launch --qemu-launch FD` before every QEMU; it links GLib only,
 * so its exec is cheap. Not meant to be run by hand.
 */
int
main(int argc, char **argv)
{
    if (!vb_qemu_launch_is_launcher(argc, argv))
        return 2;
    return vb_qemu_launch_main(argc, argv);
}
