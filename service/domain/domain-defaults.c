/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Define-time work that needs the QEMU binary (issue 10, part live): the architecture and
 * machine type written back as libvirt's post-parse does, and the list of what a start would
 * not act on (Domain.Unsupported), from the caller's own document.
 */
#include "config.h"

#include <string.h>
#include <sys/utsname.h>

#include "domain-list.h"
#include "domain-cgroup.h"
#include "domain-list-priv.h"
#include "qemu-command.h"
#include "store.h"
#include "vb-error.h"

/* the architecture of this host, as libvirt names it */
static char *
host_arch(void)
{
    struct utsname u;

    if (uname(&u) < 0)
        return g_strdup("x86_64");
    if (strcmp(u.machine, "amd64") == 0)
        return g_strdup("x86_64");
    if (strlen(u.machine) == 4 && u.machine[0] == 'i' && g_str_has_suffix(u.machine, "86"))
        return g_strdup("i686");
    return g_strdup(u.machine);
}

/* libvirt's preferred machine (virQEMUCapsProbeQMPMachineTypes): "pc" on x86, else QEMU's */
static const char *
preferred_machine(const VbQemuCaps *caps, const char *arch)
{
    const VbQemuMachine *m = NULL;

    if (g_strcmp0(arch, "x86_64") == 0 || g_strcmp0(arch, "i686") == 0)
        m = vb_qemu_caps_find_machine(caps, "pc");
    if (m == NULL)
        m = vb_qemu_caps_find_machine(caps, NULL);
    if (m == NULL && caps->machines != NULL && caps->machines->len > 0)
        m = caps->machines->pdata[0];
    return m != NULL ? m->name : NULL;
}

/*
 * Fills <type arch= machine=> from the host and the emulator, and returns the caps used
 * (NULL with @error when they are needed and cannot be had).
 */
static VbQemuCaps *
apply_os_defaults(VbDomainList *list, VbDomainDef *def, GError **error)
{
    const char *emulator = vb_domain_def_get_emulator(def);
    const char *machine = vb_domain_def_get_machine(def);
    g_autofree char *arch = g_strdup(vb_domain_def_get_arch(def));
    g_autofree char *binary = NULL;
    g_autoptr(VbQemuCaps) caps = NULL;
    const VbQemuMachine *m;

    if (arch == NULL && emulator == NULL)
        arch = host_arch();
    binary = emulator != NULL ? g_strdup(emulator) : vb_qemu_caps_default_binary(arch);
    if (binary == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "no QEMU binary is installed for architecture '%s' (qemu-system-%s is not "
                    "on PATH); install it or set <emulator>", arch, arch);
        return NULL;
    }
    caps = vb_qemu_caps_get(binary, list->paths->caps_dir, error);
    if (caps == NULL)
        return NULL;
    if (arch == NULL)
        arch = g_strdup(caps->arch);
    if (machine == NULL)
        machine = preferred_machine(caps, arch);
    else if ((m = vb_qemu_caps_find_machine(caps, machine)) != NULL)
        machine = m->name; /* an alias ('pc', 'q35') becomes the versioned machine */
    vb_domain_def_set_os_defaults(def, arch, machine);
    return g_steal_pointer(&caps);
}

/**
 * vb_domain_apply_os_defaults:
 *
 * The architecture and machine defaults of vb_domain_parse_define() for a definition a
 * caller gives to be compared with another (Restore's and Save's XML): 'q35' there is the
 * same machine as the image's 'pc-q35-7.2'. Without the binary nothing changes. Workers only.
 */
void
vb_domain_apply_os_defaults(VbDomainList *list, VbDomainDef *def)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbQemuCaps) caps = apply_os_defaults(list, def, &error);

    if (caps == NULL)
        g_debug("no QEMU capabilities for the defaults: %s", error->message);
}

/* "<tpm> at line 40: ..." from a check's error: what stops a start, said as such */
static char *
error_entry(const GError *err)
{
    return g_strdup_printf("%s (the domain will not start)", err->message);
}

/* the caller's line an error names ("<tpm> at line 40: ..."), or 0 */
static int
error_line(const GError *err)
{
    const char *at = strstr(err->message, " at line ");

    return at != NULL ? atoi(at + strlen(" at line ")) : 0;
}

/*
 * What a start would ignore and refuse: the check stops at the first refusal, so it runs
 * again without the element it named until it passes (at most 32 rounds), collecting all.
 */
static void
list_unsupported(const char *xml, const VbDomainDef *def, const VbQemuCaps *caps,
                 GStrvBuilder *b)
{
    g_autoptr(VbDomainDef) work = NULL;
    g_autoptr(GPtrArray) refused = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ignored = NULL;

    for (guint round = 0; round < 32; round++) {
        g_autoptr(GError) err = NULL;

        g_clear_pointer(&ignored, g_ptr_array_unref);
        if (vb_qemu_command_check(work != NULL ? work : def, caps, &ignored, &err) ||
            err == NULL)
            break;
        g_ptr_array_add(refused, error_entry(err));
        /* a parse of the caller's document again: a copy would have the lines of the
         * reformatted one */
        if (work == NULL && (work = vb_domain_def_parse_string(
                                 xml, VB_DOMAIN_DEF_PARSE_INACTIVE, NULL)) != NULL) {
            vb_domain_def_set_os_defaults(work, vb_domain_def_get_arch(def),
                                          vb_domain_def_get_machine(def));
            if (!vb_domain_def_assign_addresses(work, NULL))
                break;
        }
        if (work == NULL || !vb_domain_def_drop_line(work, error_line(err)))
            break;
    }
    for (guint i = 0; ignored != NULL && i < ignored->len; i++)
        g_strv_builder_add(b, g_ptr_array_index(ignored, i));
    /* issue 14, part cgroup: the limits cgroup_mode does not apply */
    vb_domain_cgroup_unsupported(def, b);
    for (guint i = 0; i < refused->len; i++)
        g_strv_builder_add(b, g_ptr_array_index(refused, i));
}

/**
 * vb_domain_parse_define:
 * @xml: domain XML from a caller of DefineXML or CreateXML
 * @out_unsupported: (out) (transfer full): what a start would not act on, each
 *   "<element> at line N: why" with the caller's lines; the first thing that would stop a
 *   start comes last, marked "(the domain will not start)"
 *
 * Parses a caller's definition as DefineXML does, with what needs the QEMU binary: a
 * missing architecture is the host's (or the one <emulator> runs), a missing machine type
 * the binary's preferred one, an alias the versioned machine; then device addresses.
 * Probes capabilities (cached): worker threads only, no lock held.
 *
 * Returns: (transfer full): the definition, or %NULL with InvalidXML (bad XML or values)
 *   or NotSupported (an architecture other than x86, or no QEMU for it)
 */
VbDomainDef *
vb_domain_parse_define(VbDomainList *list, const char *xml, GStrv *out_unsupported,
                       GError **error)
{
    g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, VB_DOMAIN_DEF_PARSE_INACTIVE,
                                                            error);
    g_autoptr(VbQemuCaps) caps = NULL;
    g_autoptr(GPtrArray) ignored = NULL;
    g_autoptr(GError) check_err = NULL;
    g_autoptr(GError) caps_err = NULL;
    const char *arch;
    GStrvBuilder *b;

    if (def == NULL) {
        if (error != NULL && *error != NULL && (*error)->domain == VB_ERROR &&
            (*error)->code == VB_ERROR_INVALID_ARG)
            (*error)->code = VB_ERROR_INVALID_XML;
        return NULL;
    }
    caps = apply_os_defaults(list, def, &caps_err);
    arch = vb_domain_def_get_arch(def);
    if (arch != NULL && strcmp(arch, "x86_64") != 0 && strcmp(arch, "i686") != 0) {
        /* machine types, PCI buses, device defaults and the command line are x86's */
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "architecture '%s' is not supported: virtbus runs x86 guests (x86_64, "
                    "i686) only", arch);
        return NULL;
    }
    /* without the binary a definition that names its architecture and machine still
     * defines (as before); one that needs the defaults cannot */
    if (caps == NULL && (vb_domain_def_get_arch(def) == NULL ||
                         vb_domain_def_get_machine(def) == NULL)) {
        g_propagate_error(error, g_steal_pointer(&caps_err));
        return NULL;
    }
    if (!vb_domain_def_assign_addresses(def, error)) {
        if (error != NULL && *error != NULL && (*error)->domain == VB_ERROR &&
            (*error)->code == VB_ERROR_INVALID_ARG)
            (*error)->code = VB_ERROR_INVALID_XML;
        return NULL;
    }
    b = g_strv_builder_new();
    if (caps == NULL) {
        g_autofree char *e = g_strdup_printf("<emulator>: %s (the domain will not start)",
                                             caps_err->message);

        g_strv_builder_add(b, e);
    } else {
        list_unsupported(xml, def, caps, b);
    }
    *out_unsupported = g_strv_builder_end(b);
    g_strv_builder_unref(b);
    return g_steal_pointer(&def);
}

/**
 * vb_domain_unsupported_check:
 * @unsupported: what vb_domain_parse_define() listed
 * @name: the domain's name
 *
 * For the VALIDATE flag of DefineXML (1) and CreateXML (16): refuses a definition that
 * holds anything a start would not act on, naming each element.
 *
 * Returns: %FALSE with NotSupported (libvirt's VIR_ERR_CONFIG_UNSUPPORTED) when
 *   @unsupported is not empty
 */
gboolean
vb_domain_unsupported_check(const char *const *unsupported, const char *name, GError **error)
{
    g_autofree char *all = NULL;

    if (unsupported == NULL || unsupported[0] == NULL)
        return TRUE;
    all = g_strjoinv("; ", (char **)unsupported);
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                "domain '%s' holds settings virtbus would not act on (VALIDATE): %s", name,
                all);
    return FALSE;
}

/**
 * vb_domain_unsupported_save:
 *
 * Keeps @unsupported next to the domain's config (one entry a line), so that
 * Domain.Unsupported names the caller's lines after a service restart too; an empty list
 * removes the file. Blocking: workers only.
 */
gboolean
vb_domain_unsupported_save(VbDomainList *list, const char *name,
                           const char *const *unsupported, GError **error)
{
    g_autofree char *path = vb_paths_domain_unsupported(list->paths, name);
    g_autoptr(GString) buf = g_string_new(NULL);

    if (unsupported == NULL || unsupported[0] == NULL)
        return vb_store_remove(path, error);
    for (guint i = 0; unsupported[i] != NULL; i++) {
        g_autofree char *line = g_strdup(unsupported[i]);

        g_strdelimit(line, "\r\n", ' ');
        g_string_append(buf, line);
        g_string_append_c(buf, '\n');
    }
    return vb_store_write_atomic(path, buf->str, (gssize)buf->len, 0600, error);
}

/**
 * vb_domain_unsupported_load:
 *
 * Returns: (transfer full): the list vb_domain_unsupported_save() kept for @name (empty
 *   when there is none). Blocking (a small file): at load time and on workers.
 */
GStrv
vb_domain_unsupported_load(VbDomainList *list, const char *name)
{
    g_autofree char *path = vb_paths_domain_unsupported(list->paths, name);
    g_autofree char *contents = NULL;
    GStrvBuilder *b = g_strv_builder_new();
    GStrv out;

    if (g_file_get_contents(path, &contents, NULL, NULL)) {
        g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);

        for (guint i = 0; lines[i] != NULL; i++) {
            if (lines[i][0] != '\0')
                g_strv_builder_add(b, lines[i]);
        }
    }
    out = g_strv_builder_end(b);
    g_strv_builder_unref(b);
    return out;
}
