/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/*
 * Reads a QEMU argv back the way QEMU 7.2 parses it and checks that every option carries only
 * the keys the command-line builder writes: what a value in the domain XML could inject (a
 * comma that starts a new key, an '=' that turns an implied value into a key, a quote that
 * ends a JSON string) shows up as an unknown or repeated key, a malformed JSON object or an
 * unknown option. Used by test-xml2argv on every golden and by the XML fuzzer on every
 * command line it builds.
 *
 * @argv: the built argv (binary first)
 * @n_passthrough: how many arguments at the end come from <qemu:commandline> (not checked)
 * @error: what was found, naming the option and the argument
 */
gboolean test_argv_check(const char *const *argv, guint n_passthrough, GError **error);

/*
 * QemuOpts splitting: @str as "key=value" pairs (',,' is a literal comma); a first part
 * without '=' is the value of @implied (or, without @implied, a key set to "on").
 * Returns: (transfer full): keys and values, alternating
 */
GPtrArray *test_qemu_opts_split(const char *str, const char *implied);
