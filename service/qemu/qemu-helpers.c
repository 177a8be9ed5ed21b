/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The helper processes of a domain (issue 10, part helpers), planned from its definition as
 * libvirt 9.0 runs them (qemu_tpm.c, qemu_virtiofs.c):
 *
 * - swtpm for <tpm><backend type='emulator'>: `swtpm socket --ctrl
 *   type=unixio,path=SOCK,mode=0600 --tpmstate dir=STATE,mode=0600 --log file=LOG
 *   --terminate [--tpm2]`, the state in STATE_ROOT/swtpm/<uuid>/tpm2 (tpm1.2 for 1.2), made
 *   on the first start by `swtpm_setup` with the EK and platform certificates
 *   (--createek --create-ek-cert --create-platform-cert --lock-nvram --not-overwrite), as
 *   libvirt does.
 * - virtiofsd for <filesystem><driver type='virtiofs'> without <source socket=>:
 *   `virtiofsd --socket-path=SOCK -o source=DIR[,cache=][,sandbox=][,xattr|no_xattr]
 *   [,flock|no_flock][,posix_lock|no_posix_lock] [--thread-pool-size=N]` (libvirt passes a
 *   listening fd with --fd; a path lets a restarted service find the process by it).
 *
 * - passt for <interface type='user'><backend type='passt'> (issue 12, part portfwd):
 *   libvirt's arguments (qemu_passt.c, see vb_qemu_user_net_passt_argv()), the socket
 *   RUNDIR/netN-passt.sock, its log the <backend logFile=> or <name>-netN-passt.log.
 *
 * All run in the foreground as children of the service; sockets live in the domain's
 * runtime directory, so every helper's command line names that directory.
 */
#include "config.h"

#include <libxml/parser.h>
#include <string.h>

#include "qemu-command-priv.h"
#include "qemu-helpers.h"
#include "qemu-portfwd.h"
#include "vb-error.h"

/* g_strv_builder_take() is GLib 2.80 */
static void
strv_take(GStrvBuilder *b, char *s)
{
    g_strv_builder_add(b, s);
    g_free(s);
}

void
vb_qemu_helper_free(VbQemuHelper *h)
{
    if (h == NULL)
        return;
    g_free(h->id);
    g_strfreev(h->argv);
    g_strfreev(h->setup_argv);
    g_free(h->state_dir);
    g_free(h->state_file);
    g_free(h->socket);
    g_free(h->log_path);
    g_free(h);
}

const char *
vb_qemu_helper_kind_to_string(VbQemuHelperKind kind)
{
    switch (kind) {
    case VB_QEMU_HELPER_SWTPM:
        return "swtpm";
    case VB_QEMU_HELPER_VIRTIOFSD:
        return "virtiofsd";
    case VB_QEMU_HELPER_PASST:
        return "passt";
    }
    return "helper";
}

char *
vb_qemu_helper_swtpm_socket(const char *runtime_dir, const char *id)
{
    g_autofree char *base = g_strconcat(id, "-swtpm.sock", NULL);

    return g_build_filename(runtime_dir, base, NULL);
}

char *
vb_qemu_helper_virtiofs_socket(const char *runtime_dir, const char *id)
{
    g_autofree char *base = g_strconcat(id, "-fs.sock", NULL);

    return g_build_filename(runtime_dir, base, NULL);
}

char *
vb_qemu_tpm_state_root(const char *swtpm_dir, const char *uuid)
{
    return g_build_filename(swtpm_dir, uuid, NULL);
}

/*
 * Debian's Rust virtiofsd (package virtiofsd) when installed, else the C one QEMU 7.2 ships.
 * Both take --socket-path, -o source=, --thread-pool-size.
 */
char *
vb_qemu_helpers_virtiofsd_binary(void)
{
    static const char *const candidates[] = { "/usr/libexec/virtiofsd",
                                              "/usr/lib/qemu/virtiofsd", NULL };

    for (guint i = 0; candidates[i] != NULL; i++) {
        if (g_file_test(candidates[i], G_FILE_TEST_IS_EXECUTABLE))
            return g_strdup(candidates[i]);
    }
    return NULL;
}

void
vb_qemu_tpm_free(VbQemuTpm *tpm)
{
    if (tpm == NULL)
        return;
    g_free(tpm->model);
    g_free(tpm->version);
    g_free(tpm->device_path);
    g_free(tpm->cancel_path);
    g_free(tpm);
}

static gboolean
tpm_unsupported(GError **error, const char *what, const char *msg)
{
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "%s: %s", what, msg);
    return FALSE;
}

static gboolean
tpm_read_backend(VbQemuTpm *tpm, xmlNode *b, const char *what, GError **error)
{
    g_autofree char *type = vb_xml_prop(b, "type");
    g_autofree char *pstate = vb_xml_prop(b, "persistent_state");

    if (g_strcmp0(type, "emulator") == 0) {
        tpm->emulator = TRUE;
        tpm->version = vb_xml_prop(b, "version");
        if (g_strcmp0(pstate, "yes") == 0)
            return tpm_unsupported(error, what, "persistent_state='yes' is not supported");
        for (xmlNode *c = b->children; c != NULL; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            if (vb_xml_is(c, "encryption"))
                return tpm_unsupported(error, what, "<encryption> of the TPM state is not "
                                       "supported (virtbus has no secrets yet)");
            if (!vb_xml_is(c, "active_pcr_banks")) {
                g_autofree char *m = g_strdup_printf("backend element <%s> is not supported",
                                                     (const char *)c->name);
                return tpm_unsupported(error, what, m);
            }
            return tpm_unsupported(error, what, "<active_pcr_banks> is not supported");
        }
        return TRUE;
    }
    if (g_strcmp0(type, "passthrough") == 0) {
        for (xmlNode *c = b->children; c != NULL; c = c->next) {
            if (vb_xml_is(c, "device"))
                tpm->device_path = vb_xml_prop(c, "path");
        }
        if (tpm->device_path == NULL)
            tpm->device_path = g_strdup("/dev/tpm0");
        /* libvirt: /sys/class/{tpm,misc}/tpmN/device/cancel */
        {
            g_autofree char *base = g_path_get_basename(tpm->device_path);
            g_autofree char *cls = g_strdup_printf("/sys/class/tpm/%s/device/cancel", base);
            g_autofree char *misc = g_strdup_printf("/sys/class/misc/%s/device/cancel", base);

            tpm->cancel_path = g_file_test(misc, G_FILE_TEST_EXISTS) ? g_steal_pointer(&misc)
                                                                     : g_steal_pointer(&cls);
        }
        return TRUE;
    }
    {
        g_autofree char *m = g_strdup_printf("backend type '%s' is not supported (emulator, "
                                             "passthrough)", type != NULL ? type : "(none)");
        return tpm_unsupported(error, what, m);
    }
}

/**
 * vb_qemu_tpm_read:
 * @dev: a kept <tpm> device
 * @what: how to name it in errors
 *
 * Returns: (transfer full): the TPM, or %NULL with NotSupported for what cannot run.
 */
VbQemuTpm *
vb_qemu_tpm_read(const VbDeviceDef *dev, const char *what, GError **error)
{
    g_autoptr(VbQemuTpm) tpm = g_new0(VbQemuTpm, 1);
    xmlDoc *doc = vb_raw_elem_parse(dev->raw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    xmlNode *backend = NULL;
    gboolean ok = TRUE;

    if (root == NULL) {
        xmlFreeDoc(doc);
        tpm_unsupported(error, what, "cannot read the element");
        return NULL;
    }
    tpm->model = vb_xml_prop(root, "model");
    if (tpm->model == NULL)
        tpm->model = g_strdup("tpm-tis");
    for (xmlNode *c = root->children; c != NULL && ok; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || vb_xml_is(c, "alias"))
            continue;
        if (vb_xml_is(c, "backend") && backend == NULL) {
            backend = c;
        } else {
            g_autofree char *m = g_strdup_printf("element <%s> is not supported",
                                                 (const char *)c->name);
            ok = tpm_unsupported(error, what, m);
        }
    }
    if (ok && strcmp(tpm->model, "tpm-tis") != 0 && strcmp(tpm->model, "tpm-crb") != 0)
        ok = tpm_unsupported(error, what, "model must be 'tpm-tis' or 'tpm-crb' on x86");
    if (ok && backend == NULL)
        ok = tpm_unsupported(error, what, "a <backend> is required");
    if (ok)
        ok = tpm_read_backend(tpm, backend, what, error);
    xmlFreeDoc(doc);
    if (!ok)
        return NULL;
    if (tpm->emulator && tpm->version == NULL)
        tpm->version = g_strdup(strcmp(tpm->model, "tpm-crb") == 0 ? "2.0" : "1.2");
    if (tpm->emulator && strcmp(tpm->version, "2.0") != 0 &&
        strcmp(tpm->version, "1.2") != 0) {
        tpm_unsupported(error, what, "backend version must be '1.2' or '2.0'");
        return NULL;
    }
    if (tpm->emulator && strcmp(tpm->version, "1.2") == 0 &&
        strcmp(tpm->model, "tpm-crb") == 0) {
        tpm_unsupported(error, what, "TPM 1.2 is not supported with the TPM CRB interface");
        return NULL;
    }
    return g_steal_pointer(&tpm);
}

static VbQemuHelper *
plan_swtpm(const VbDomainDef *def, const VbQemuTpm *tpm, const char *id,
           const VbQemuHelperParams *p)
{
    VbQemuHelper *h = g_new0(VbQemuHelper, 1);
    gboolean v2 = strcmp(tpm->version, "2.0") == 0;
    char uuid[37];
    g_autofree char *root = NULL;
    g_autofree char *logbase = g_strconcat(def->name, "-swtpm.log", NULL);
    g_autofree char *vmid = NULL;
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_autoptr(GStrvBuilder) s = g_strv_builder_new();

    vb_uuid_format(def->uuid, uuid);
    root = vb_qemu_tpm_state_root(p->swtpm_dir, uuid);
    vmid = g_strdup_printf("%s:%s", def->name, uuid);
    h->kind = VB_QEMU_HELPER_SWTPM;
    h->id = g_strdup(id);
    h->state_dir = g_build_filename(root, v2 ? "tpm2" : "tpm1.2", NULL);
    h->state_file = g_build_filename(h->state_dir, v2 ? "tpm2-00.permall" : "tpm-00.permall",
                                     NULL);
    h->socket = vb_qemu_helper_swtpm_socket(p->runtime_dir, id);
    h->log_path = g_build_filename(p->log_dir, logbase, NULL);

    strv_take(b, g_find_program_in_path("swtpm"));
    g_strv_builder_add_many(b, "socket", "--ctrl", NULL);
    strv_take(b, g_strdup_printf("type=unixio,path=%s,mode=0600", h->socket));
    g_strv_builder_add(b, "--tpmstate");
    strv_take(b, g_strdup_printf("dir=%s,mode=0600", h->state_dir));
    g_strv_builder_add(b, "--log");
    strv_take(b, g_strdup_printf("file=%s", h->log_path));
    g_strv_builder_add(b, "--terminate");
    if (v2)
        g_strv_builder_add(b, "--tpm2");
    h->argv = g_strv_builder_end(b);

    strv_take(s, g_find_program_in_path("swtpm_setup"));
    if (v2)
        g_strv_builder_add(s, "--tpm2");
    g_strv_builder_add_many(s, "--tpm-state", h->state_dir, "--vmid", vmid, "--logfile",
                            h->log_path, "--createek", "--create-ek-cert",
                            "--create-platform-cert", "--lock-nvram", "--not-overwrite",
                            NULL);
    h->setup_argv = g_strv_builder_end(s);
    return h;
}

/* <binary> of a virtiofs filesystem: its attributes and children, as virtiofsd options */
static gboolean
virtiofsd_options(const VbDeviceDef *dev, const char *source, GString *o, int *thread_pool,
                  char **out_path, GError **error)
{
    const VbRawElem *bin = NULL;
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok = TRUE;

    g_string_append(o, "source=");
    for (const char *p = source; *p; p++) {
        if (*p == ',')
            g_string_append_c(o, ',');
        g_string_append_c(o, *p);
    }
    for (guint i = 0; dev->extra.children != NULL && i < dev->extra.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(dev->extra.children, i);

        if (strcmp(raw->name, "binary") == 0)
            bin = raw;
    }
    if (bin == NULL)
        return TRUE;
    doc = vb_raw_elem_parse(bin);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (root != NULL) {
        g_autofree char *path = vb_xml_prop(root, "path");
        g_autofree char *xattr = vb_xml_prop(root, "xattr");
        g_autofree char *cache = NULL;
        g_autofree char *sandbox = NULL;

        *out_path = g_steal_pointer(&path);
        for (xmlNode *c = root->children; c != NULL; c = c->next) {
            if (vb_xml_is(c, "cache") && cache == NULL)
                cache = vb_xml_prop(c, "mode");
            else if (vb_xml_is(c, "sandbox") && sandbox == NULL)
                sandbox = vb_xml_prop(c, "mode");
        }
        if (cache != NULL)
            g_string_append_printf(o, ",cache=%s", cache);
        if (sandbox != NULL)
            g_string_append_printf(o, ",sandbox=%s", sandbox);
        if (xattr != NULL)
            g_string_append(o, g_str_equal(xattr, "on") ? ",xattr" : ",no_xattr");
        for (xmlNode *c = root->children; c != NULL; c = c->next) {
            g_autofree char *posix = NULL, *flock = NULL, *size = NULL;

            if (vb_xml_is(c, "lock")) {
                posix = vb_xml_prop(c, "posix");
                flock = vb_xml_prop(c, "flock");
                if (flock != NULL)
                    g_string_append(o, g_str_equal(flock, "on") ? ",flock" : ",no_flock");
                if (posix != NULL)
                    g_string_append(o, g_str_equal(posix, "on") ? ",posix_lock"
                                                                 : ",no_posix_lock");
            } else if (vb_xml_is(c, "thread_pool") && (size = vb_xml_prop(c, "size"))) {
                *thread_pool = (int)g_ascii_strtoll(size, NULL, 10);
            }
        }
        if ((cache != NULL && !g_strv_contains((const char *const[]){ "none", "always", "auto",
                                                                      NULL }, cache)) ||
            (sandbox != NULL &&
             !g_strv_contains((const char *const[]){ "namespace", "chroot", NULL }, sandbox))) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "line %d: <binary>: cache mode '%s' / sandbox mode '%s' is not "
                        "supported", bin->line, cache != NULL ? cache : "-",
                        sandbox != NULL ? sandbox : "-");
            ok = FALSE;
        }
    }
    xmlFreeDoc(doc);
    return ok;
}

static VbQemuHelper *
plan_virtiofsd(const VbDomainDef *def, const VbDeviceDef *dev, const char *id,
               const VbQemuHelperParams *p, GError **error)
{
    g_autoptr(VbQemuHelper) h = g_new0(VbQemuHelper, 1);
    g_autoptr(GString) o = g_string_new(NULL);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_autofree char *binary = NULL;
    g_autofree char *source = NULL;
    g_autofree char *logbase = g_strdup_printf("%s-%s-virtiofsd.log", def->name, id);
    int pool = -1;

    for (guint i = 0; dev->extra.children != NULL && i < dev->extra.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(dev->extra.children, i);

        if (strcmp(raw->name, "source") == 0 && source == NULL)
            source = vb_raw_elem_get_attr(raw, "dir");
    }
    if (source == NULL)
        return NULL; /* <source socket=>: virtiofsd is run by someone else */
    h->kind = VB_QEMU_HELPER_VIRTIOFSD;
    h->id = g_strdup(id);
    h->socket = vb_qemu_helper_virtiofs_socket(p->runtime_dir, id);
    h->log_path = g_build_filename(p->log_dir, logbase, NULL);
    if (!virtiofsd_options(dev, source, o, &pool, &binary, error))
        return NULL;
    if (binary == NULL)
        binary = vb_qemu_helpers_virtiofsd_binary();
    if (binary == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "line %d: <filesystem>: no virtiofsd found (install Debian's virtiofsd "
                    "or qemu-system-common, or give <binary path=>)", dev->line);
        return NULL;
    }
    if (!g_file_test(source, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "line %d: <filesystem>: source directory '%s' does not exist", dev->line,
                    source);
        return NULL;
    }
    g_strv_builder_add(b, binary);
    strv_take(b, g_strdup_printf("--socket-path=%s", h->socket));
    g_strv_builder_add_many(b, "-o", o->str, NULL);
    if (pool >= 0)
        strv_take(b, g_strdup_printf("--thread-pool-size=%d", pool));
    h->argv = g_strv_builder_end(b);
    return g_steal_pointer(&h);
}

/* an interface's <mtu size>, 0 when unset */
static guint
interface_mtu(const VbDeviceDef *dev)
{
    for (guint i = 0; dev->extra.children != NULL && i < dev->extra.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(dev->extra.children, i);
        g_autofree char *size = NULL;
        guint64 n = 0;

        if (strcmp(raw->name, "mtu") != 0)
            continue;
        size = vb_raw_elem_get_attr(raw, "size");
        if (size != NULL && g_ascii_string_to_unsigned(size, 10, 1, 65535, &n, NULL))
            return (guint)n;
    }
    return 0;
}

/* passt for a type='user' interface with <backend type='passt'>; NULL without (no error) */
static VbQemuHelper *
plan_passt(const VbDomainDef *def, const VbDeviceDef *dev, const char *what,
           const VbQemuHelperParams *p, GError **error)
{
    g_autoptr(VbQemuHelper) h = NULL;
    g_autoptr(VbQemuUserNet) u = NULL;
    g_autofree char *why = NULL;
    g_autofree char *alias = vb_domain_def_device_alias(def, dev);
    g_autofree char *binary = NULL;

    u = vb_qemu_user_net_read(dev, &why);
    if (u == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "%s: %s", what, why);
        return NULL;
    }
    if (!u->passt)
        return NULL;
    binary = vb_qemu_passt_binary();
    if (binary == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "%s: <backend type='passt'> needs passt; install Debian's passt", what);
        return NULL;
    }
    h = g_new0(VbQemuHelper, 1);
    h->kind = VB_QEMU_HELPER_PASST;
    h->id = g_strdup(alias);
    h->socket = vb_qemu_user_net_passt_socket(p->runtime_dir, alias);
    if (u->log_file != NULL) {
        h->log_path = g_strdup(u->log_file);
    } else {
        g_autofree char *base = g_strdup_printf("%s-%s-passt.log", def->name, alias);

        h->log_path = g_build_filename(p->log_dir, base, NULL);
    }
    h->argv = vb_qemu_user_net_passt_argv(u, binary, h->socket, h->log_path,
                                          interface_mtu(dev));
    return g_steal_pointer(&h);
}

/**
 * vb_qemu_helpers_plan:
 * @def: the definition to start (its command line was built)
 * @params: paths
 * @error: error
 *
 * Returns: (transfer full) (element-type VbQemuHelper): the helpers to start, in order;
 *   %NULL with an error naming what cannot run.
 */
GPtrArray *
vb_qemu_helpers_plan(const VbDomainDef *def, const VbQemuHelperParams *params, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vb_qemu_helper_free);
    GPtrArray *devs = def->priv->devices;
    int ntpm = 0, nfs = 0, nif = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_UNKNOWN && strcmp(dev->raw->name, "tpm") == 0) {
            g_autofree char *id = g_strdup_printf("tpm%d", ntpm++);
            g_autofree char *what = g_strdup_printf("<tpm> devices/tpm[%d]", ntpm);
            g_autoptr(VbQemuTpm) tpm = vb_qemu_tpm_read(dev, what, error);

            if (tpm == NULL)
                return NULL;
            g_autofree char *swtpm = g_find_program_in_path("swtpm");
            g_autofree char *setup = g_find_program_in_path("swtpm_setup");

            if (tpm->emulator && (swtpm == NULL || setup == NULL)) {
                g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "%s: swtpm and swtpm_setup are needed for an emulated TPM; "
                            "install Debian's swtpm and swtpm-tools", what);
                return NULL;
            }
            if (tpm->emulator)
                g_ptr_array_add(out, plan_swtpm(def, tpm, id, params));
        } else if (dev->kind == VB_DEV_FILESYSTEM) {
            g_autofree char *id = g_strdup_printf("fs%d", nfs++);
            const VbRawElem *drv = NULL;
            g_autofree char *type = NULL;
            VbQemuHelper *h;

            for (guint k = 0; dev->extra.children && k < dev->extra.children->len; k++) {
                const VbRawElem *raw = g_ptr_array_index(dev->extra.children, k);

                if (strcmp(raw->name, "driver") == 0)
                    drv = raw;
            }
            type = drv != NULL ? vb_raw_elem_get_attr(drv, "type") : NULL;
            if (g_strcmp0(type, "virtiofs") != 0)
                continue;
            h = plan_virtiofsd(def, dev, id, params, error);
            if (h == NULL && error != NULL && *error != NULL)
                return NULL;
            if (h != NULL)
                g_ptr_array_add(out, h);
        } else if (dev->kind == VB_DEV_INTERFACE && g_strcmp0(dev->type, "user") != 0) {
            nif++;
        } else if (dev->kind == VB_DEV_INTERFACE) {
            g_autofree char *what = g_strdup_printf("<interface> devices/interface[%d]", ++nif);
            g_autoptr(GError) local = NULL;
            VbQemuHelper *h = plan_passt(def, dev, what, params, &local);

            if (local != NULL) {
                g_propagate_error(error, g_steal_pointer(&local));
                return NULL;
            }
            if (h != NULL)
                g_ptr_array_add(out, h);
        }
    }
    return g_steal_pointer(&out);
}

/**
 * vb_qemu_helper_is_ours:
 * @pid: a process
 * @runtime_dir: a domain's runtime directory
 *
 * Returns: whether @pid is a helper (swtpm, virtiofsd, or a wrapper given as <binary
 *   path=>) of the run that used @runtime_dir: an argument of its command line gives it a
 *   socket in that directory the way we start helpers ("--socket-path=DIR/...",
 *   "type=unixio,path=DIR/...", passt's "--socket" "DIR/..."), which QEMU's arguments
 *   never do.
 */
gboolean
vb_qemu_helper_is_ours(pid_t pid, const char *runtime_dir)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    g_autofree char *vfs = g_strconcat("--socket-path=", runtime_dir, "/", NULL);
    g_autofree char *tpm = g_strconcat("type=unixio,path=", runtime_dir, "/", NULL);
    gsize len = 0;

    g_autofree char *dir = g_strconcat(runtime_dir, "/", NULL);
    gboolean after_socket = FALSE;

    if (!g_file_get_contents(path, &cmdline, &len, NULL) || len == 0)
        return FALSE;
    for (gsize off = 0; off < len; off += strlen(cmdline + off) + 1) {
        const char *arg = cmdline + off;

        if (g_str_has_prefix(arg, vfs) || g_str_has_prefix(arg, tpm) ||
            (after_socket && g_str_has_prefix(arg, dir)))
            return TRUE;
        /* passt: "--socket" "DIR/netN-passt.sock" */
        after_socket = strcmp(arg, "--socket") == 0;
    }
    return FALSE;
}
