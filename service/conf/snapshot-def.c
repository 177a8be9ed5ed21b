/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt's <domainsnapshot> XML (issue 15, part snapxml): parse, validate and format the
 * way libvirt 9.0 does (docs/formatsnapshot.rst). The embedded <domain> and
 * <inactiveDomain> go through the domain parser; <cookie> and every element or attribute
 * we do not model are kept verbatim, so a round trip loses nothing.
 */
#include "config.h"

#include <libxml/parser.h>
#include <string.h>

#include "domain-def-priv.h"
#include "snapshot-def.h"
#include "vb-error.h"

/* two domain definitions (10 MiB each at most) and a little more */
#define VB_SNAPSHOT_XML_MAX_BYTES (21 * 1024 * 1024)
/* room for ".xml" and the ".NAME.XXXXXX" temporary names in a 255-byte file name */
#define VB_SNAPSHOT_NAME_MAX 240

struct _VbSnapshotDiskPrivate {
    VbExtra extra;        /* unknown attributes and children of <disk> */
    gboolean has_driver;  /* a <driver> element was given */
    VbExtra driver_extra; /* of <driver>, e.g. <metadata_cache> */
    VbRawElem *source;    /* <source>, verbatim; nullable */
};

struct _VbSnapshotDefPrivate {
    VbExtra extra; /* unknown attributes and children of <domainsnapshot>, and <cookie> */
    char *domain_xml[2]; /* VALIDATE: <domain>, <inactiveDomain> as written; nullable */
};

static const char *const state_names[] = {
    "nostate",  "running", "blocked",     "paused",        "shutdown",
    "shutoff",  "crashed", "pmsuspended", "disk-snapshot", NULL,
};
G_STATIC_ASSERT(G_N_ELEMENTS(state_names) == VB_SNAPSHOT_STATE_LAST + 1);

static const char *const location_names[] = {
    "default", "no", "internal", "external", "manual", NULL,
};
G_STATIC_ASSERT(G_N_ELEMENTS(location_names) == VB_SNAPSHOT_LOCATION_LAST + 1);

/* libvirt's order of <domainsnapshot>'s children */
static const char *const top_ranks[] = {
    "name",   "description", "state",          "parent", "creationTime", "memory",
    "disks",  "revertDisks", "domain",         "inactiveDomain", "cookie", "active", NULL,
};
enum { RANK_REVERT_DISKS = 7, RANK_DOMAIN = 8 };

static const char *const top_modelled[] = {
    "name",   "description", "state",          "parent", "creationTime", "memory",
    "disks",  "revertDisks", "domain",         "inactiveDomain", "active", NULL,
};

/* libvirt's virStorageFileFormat names a <driver type=> may use */
static const char *const disk_formats[] = {
    "raw",  "dir", "bochs", "cloop", "dmg",  "iso", "vpc",  "vdi",
    "fat",  "vhd", "ploop", "cow",   "qcow", "qcow2", "qed", "vmdk", NULL,
};

const char *
vb_snapshot_state_to_string(VbSnapshotState state)
{
    return (guint)state < VB_SNAPSHOT_STATE_LAST ? state_names[state] : NULL;
}

int
vb_snapshot_state_from_string(const char *str)
{
    return vb_enum_lookup(state_names, VB_SNAPSHOT_STATE_LAST, str);
}

const char *
vb_snapshot_location_to_string(VbSnapshotLocation loc)
{
    return (guint)loc < VB_SNAPSHOT_LOCATION_LAST ? location_names[loc] : NULL;
}

int
vb_snapshot_location_from_string(const char *str)
{
    return vb_enum_lookup(location_names, VB_SNAPSHOT_LOCATION_LAST, str);
}

static void
snapshot_disk_free(VbSnapshotDiskDef *disk)
{
    if (disk == NULL)
        return;
    g_free(disk->name);
    g_free(disk->type);
    g_free(disk->driver_type);
    g_free(disk->source_path);
    if (disk->priv != NULL) {
        vb_extra_clear(&disk->priv->extra);
        vb_extra_clear(&disk->priv->driver_extra);
        vb_raw_elem_free(disk->priv->source);
        g_free(disk->priv);
    }
    g_free(disk);
}

/**
 * vb_snapshot_disk_def_new_file:
 * @name: the disk's target
 * @path: an absolute image path
 * @format: (nullable): its format (<driver type=>)
 *
 * Returns: (transfer full): an external file disk (for <revertDisks>); free it with
 *   vb_snapshot_disk_def_free()
 */
VbSnapshotDiskDef *
vb_snapshot_disk_def_new_file(const char *name, const char *path, const char *format)
{
    VbSnapshotDiskDef *disk = g_new0(VbSnapshotDiskDef, 1);

    disk->priv = g_new0(struct _VbSnapshotDiskPrivate, 1);
    disk->name = g_strdup(name);
    disk->snapshot = VB_SNAPSHOT_LOCATION_EXTERNAL;
    disk->type = g_strdup("file");
    disk->driver_type = g_strdup(format);
    disk->source_path = g_strdup(path);
    return disk;
}

void
vb_snapshot_disk_def_free(VbSnapshotDiskDef *disk)
{
    snapshot_disk_free(disk);
}

/**
 * vb_snapshot_def_free:
 * @def: (nullable): a definition
 */
void
vb_snapshot_def_free(VbSnapshotDef *def)
{
    if (def == NULL)
        return;
    g_free(def->name);
    g_free(def->description);
    g_free(def->parent_name);
    g_free(def->memory_file);
    g_clear_pointer(&def->disks, g_ptr_array_unref);
    g_clear_pointer(&def->revert_disks, g_ptr_array_unref);
    g_clear_pointer(&def->dom, vb_domain_def_free);
    g_free(def->dom_uuid);
    g_clear_pointer(&def->inactive_dom, vb_domain_def_free);
    if (def->priv != NULL) {
        vb_extra_clear(&def->priv->extra);
        g_free(def->priv->domain_xml[0]);
        g_free(def->priv->domain_xml[1]);
        g_free(def->priv);
    }
    g_free(def);
}

/**
 * vb_snapshot_name_validate:
 * @name: a snapshot name
 * @error: error (VB_ERROR_INVALID_ARG)
 *
 * A name is also a file name (NAME.xml in the domain's snapshot directory): not empty, at
 * most 240 bytes, UTF-8 without control characters (so it is XML 1.0 text), no '/' and not
 * starting with '.' (hidden files are the store's temporary files).
 */
gboolean
vb_snapshot_name_validate(const char *name, GError **error)
{
    if (name == NULL || *name == '\0') {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "snapshot name must not be empty");
        return FALSE;
    }
    if (strlen(name) > VB_SNAPSHOT_NAME_MAX) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "snapshot name is %zu bytes long, more than the limit of %d", strlen(name),
                    VB_SNAPSHOT_NAME_MAX);
        return FALSE;
    }
    if (!g_utf8_validate(name, -1, NULL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "snapshot name is not valid UTF-8");
        return FALSE;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "snapshot name must not contain control characters (0x%02x)",
                        (guint)(guchar)*p);
            return FALSE;
        }
    }
    if (strchr(name, '/') != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid snapshot name '%s': it must not contain '/'", name);
        return FALSE;
    }
    if (name[0] == '.') {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid snapshot name '%s': it must not start with '.'", name);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_snapshot_def_get_domain_xml:
 * @inactive: %TRUE for <inactiveDomain>, %FALSE for <domain>
 *
 * Returns: (nullable): the embedded definition as the caller wrote it (its root named
 *   <domain>), a document of its own whose lines are those of the snapshot document;
 *   kept only by a parse with %VB_SNAPSHOT_PARSE_VALIDATE of an existing snapshot
 */
const char *
vb_snapshot_def_get_domain_xml(const VbSnapshotDef *def, gboolean inactive)
{
    return def->priv->domain_xml[inactive ? 1 : 0];
}

/**
 * vb_snapshot_def_is_offline:
 *
 * Returns: whether @def holds no memory state by its <state> (shutoff, disk-snapshot)
 */
gboolean
vb_snapshot_def_is_offline(const VbSnapshotDef *def)
{
    return def->state == VB_SNAPSHOT_STATE_SHUTOFF ||
           def->state == VB_SNAPSHOT_STATE_DISK_SNAPSHOT;
}

/* the domain parser's hardening: no entity expansion, no DTD, no network, libxml2's
 * default depth limit (no XML_PARSE_HUGE), a size limit */
static xmlDoc *
read_doc(const char *xml, GError **error)
{
    xmlDoc *doc = vb_xml_read_memory(xml, VB_SNAPSHOT_XML_MAX_BYTES, "snapshot XML", "XML",
                                     "snapshot.xml", error);

    if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "DOCTYPE declarations are not allowed in snapshot XML");
        g_clear_pointer(&doc, xmlFreeDoc);
    }
    return doc;
}

/* the text of the only child @name of @parent (checked unique), or NULL */
static char *
child_text(xmlNode *parent, const char *name)
{
    xmlNode *c = vb_xml_child(parent, name);

    return c != NULL ? vb_xml_text(c) : NULL;
}

/* @node alone as a document, its root renamed <domain>; @at_line: without the XML
 * declaration, after as many newlines as put the root at its line in the snapshot
 * document, so that lines named in it are the caller's (a start tag written over several
 * lines comes back on one: later lines may be off by as many) */
static char *
domain_node_text(xmlNode *node, gboolean at_line, GError **error)
{
    xmlDoc *nd = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *copy = xmlDocCopyNode(node, nd, 1);
    xmlChar *mem = NULL;
    int size = 0;
    const char *root;
    GString *out;

    if (copy == NULL) {
        xmlFreeDoc(nd);
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL, "cannot copy XML node");
        return NULL;
    }
    xmlDocSetRootElement(nd, copy);
    xmlNodeSetName(copy, (const xmlChar *)"domain");
    xmlReconciliateNs(nd, copy);
    xmlDocDumpMemory(nd, &mem, &size);
    xmlFreeDoc(nd);
    root = mem != NULL ? strstr((const char *)mem, "<domain") : NULL;
    if (root == NULL) {
        xmlFree(mem);
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL, "cannot serialize XML");
        return NULL;
    }
    out = g_string_new(NULL);
    if (at_line) {
        for (long i = 1; i < xmlGetLineNo(node); i++)
            g_string_append_c(out, '\n');
        g_string_append(out, root);
    } else {
        g_string_append(out, (const char *)mem);
    }
    xmlFree(mem);
    return g_string_free(out, FALSE);
}

/* <domain> or <inactiveDomain> through the domain parser, as a document of its own */
static VbDomainDef *
parse_domain_node(xmlNode *node, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *text = domain_node_text(node, FALSE, error);
    VbDomainDef *dom;

    if (text == NULL)
        return NULL;
    dom = vb_domain_def_parse_string(text, VB_DOMAIN_DEF_PARSE_INACTIVE, &local);
    if (dom == NULL) {
        g_set_error(error, VB_ERROR, local->domain == VB_ERROR ? local->code : VB_ERROR_INVALID_XML,
                    "line %ld: <%s> of the snapshot (lines counted from it): %s",
                    xmlGetLineNo(node), (const char *)node->name, local->message);
        return NULL;
    }
    return dom;
}

static gboolean
path_is_relative(const char *type, const char *path)
{
    if (path == NULL || g_strcmp0(type, "network") == 0)
        return FALSE;
    return !g_path_is_absolute(path);
}

static const char *const disk_ranks[] = { "driver", "source", NULL };
static const char *const disk_attrs[] = { "name", "snapshot", "type", NULL };
static const char *const driver_attrs[] = { "type", NULL };

static VbSnapshotDiskDef *
parse_disk(xmlNode *node, guint flags, GError **error)
{
    g_autoptr(GPtrArray) holder = g_ptr_array_new_with_free_func(
        (GDestroyNotify)snapshot_disk_free);
    VbSnapshotDiskDef *disk = g_new0(VbSnapshotDiskDef, 1);
    static const char *const unique[] = { "driver", "source", NULL };
    g_autofree char *snap = NULL;
    xmlNode *driver;
    xmlNode *source;

    g_ptr_array_add(holder, disk);
    disk->priv = g_new0(struct _VbSnapshotDiskPrivate, 1);
    disk->name = vb_xml_prop(node, "name");
    if (disk->name == NULL || *disk->name == '\0') {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "missing name= of a disk snapshot element");
        return NULL;
    }
    if (!vb_xml_check_unique(node, unique, error))
        return NULL;
    snap = vb_xml_prop(node, "snapshot");
    if (snap != NULL) {
        int loc = vb_snapshot_location_from_string(snap);

        if (loc <= VB_SNAPSHOT_LOCATION_DEFAULT) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "disk '%s': invalid snapshot='%s' (no, internal, external or "
                              "manual)", disk->name, snap);
            return NULL;
        }
        disk->snapshot = (VbSnapshotLocation)loc;
    }
    disk->type = vb_xml_prop(node, "type");
    if (disk->type != NULL && g_strcmp0(disk->type, "file") != 0 &&
        g_strcmp0(disk->type, "block") != 0 && g_strcmp0(disk->type, "network") != 0) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "disk '%s': unsupported disk snapshot type '%s' (file, block or "
                          "network)", disk->name, disk->type);
        return NULL;
    }
    driver = vb_xml_child(node, "driver");
    if (driver != NULL) {
        disk->priv->has_driver = TRUE;
        disk->driver_type = vb_xml_prop(driver, "type");
        if (disk->driver_type != NULL && vb_rank_lookup(disk_formats, disk->driver_type) ==
                                             (int)G_N_ELEMENTS(disk_formats) - 1) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, driver,
                              "disk '%s': unknown disk snapshot driver '%s'", disk->name,
                              disk->driver_type);
            return NULL;
        }
        vb_extra_collect(&disk->priv->driver_extra, driver, driver_attrs, NULL, NULL);
    }
    source = vb_xml_child(node, "source");
    if (source != NULL) {
        const char *attr = g_strcmp0(disk->type, "block") == 0     ? "dev"
                           : g_strcmp0(disk->type, "network") == 0 ? "name"
                                                                   : "file";

        disk->priv->source = vb_raw_elem_new(source, 1);
        disk->source_path = vb_xml_prop(source, attr);
        if (disk->source_path != NULL && *disk->source_path == '\0')
            g_clear_pointer(&disk->source_path, g_free);
    }
    if (path_is_relative(disk->type, disk->source_path)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "disk '%s': snapshot image path '%s' must be absolute", disk->name,
                          disk->source_path);
        return NULL;
    }
    if (disk->snapshot == VB_SNAPSHOT_LOCATION_DEFAULT &&
        (disk->source_path != NULL || disk->driver_type != NULL))
        disk->snapshot = VB_SNAPSHOT_LOCATION_EXTERNAL;
    if (disk->source_path != NULL && disk->snapshot != VB_SNAPSHOT_LOCATION_EXTERNAL) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "disk '%s': file '%s' requires snapshot='external'", disk->name,
                          disk->source_path);
        return NULL;
    }
    /* a stored snapshot names its overlay: without it the snapshot cannot be reverted to */
    if ((flags & VB_SNAPSHOT_PARSE_REDEFINE) && disk->snapshot == VB_SNAPSHOT_LOCATION_EXTERNAL &&
        disk->source_path == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "disk '%s': an existing external disk snapshot needs <source> with "
                          "its image (file=, dev= or name=)", disk->name);
        return NULL;
    }
    vb_extra_collect(&disk->priv->extra, node, disk_attrs, disk_ranks, disk_ranks);
    return g_ptr_array_steal_index(holder, 0);
}

/* the target of the domain's disk that @name names (a target or a source path), or NULL */
static const char *
lookup_domain_disk(GPtrArray *infos, const char *name)
{
    for (guint i = 0; i < infos->len; i++) {
        const VbDomainDiskInfo *info = g_ptr_array_index(infos, i);

        if (g_strcmp0(info->target, name) == 0)
            return info->target;
    }
    for (guint i = 0; i < infos->len; i++) {
        const VbDomainDiskInfo *info = g_ptr_array_index(infos, i);

        if (info->path != NULL && g_strcmp0(info->path, name) == 0)
            return info->target;
    }
    return NULL;
}

/* every disk names a disk of @dom (when known), and none is named twice */
static gboolean
check_disks(GPtrArray *disks, const VbDomainDef *dom, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) infos = dom != NULL ? vb_domain_def_get_disk_infos(dom) : NULL;

    for (guint i = 0; i < disks->len; i++) {
        const VbSnapshotDiskDef *disk = g_ptr_array_index(disks, i);
        const char *target = disk->name;

        if (infos != NULL) {
            target = lookup_domain_disk(infos, disk->name);
            if (target == NULL) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "snapshot disk '%s': the domain has no disk of that name",
                            disk->name);
                return FALSE;
            }
        }
        if (!g_hash_table_add(seen, (gpointer)target)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "snapshot disk '%s' is specified twice", disk->name);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
parse_memory(VbSnapshotDef *def, xmlNode *root, guint flags, GError **error)
{
    xmlNode *mem = vb_xml_child(root, "memory");
    gboolean offline = (flags & VB_SNAPSHOT_PARSE_REDEFINE) && vb_snapshot_def_is_offline(def);

    if (mem != NULL) {
        g_autofree char *snap = vb_xml_prop(mem, "snapshot");

        def->memory_file = vb_xml_prop(mem, "file");
        if (snap != NULL) {
            int loc = vb_snapshot_location_from_string(snap);

            if (loc == VB_SNAPSHOT_LOCATION_MANUAL) {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, mem,
                                  "'manual' memory snapshot mode not supported");
                return FALSE;
            }
            if (loc <= VB_SNAPSHOT_LOCATION_DEFAULT) {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, mem,
                                  "invalid snapshot='%s' (no, internal or external)", snap);
                return FALSE;
            }
            def->memory = (VbSnapshotLocation)loc;
        }
    }
    if (def->memory == VB_SNAPSHOT_LOCATION_DEFAULT) {
        if (def->memory_file != NULL)
            def->memory = VB_SNAPSHOT_LOCATION_EXTERNAL;
        else if (flags & VB_SNAPSHOT_PARSE_REDEFINE)
            def->memory = offline ? VB_SNAPSHOT_LOCATION_NO : VB_SNAPSHOT_LOCATION_INTERNAL;
    }
    if (def->memory_file != NULL && def->memory != VB_SNAPSHOT_LOCATION_EXTERNAL) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, mem,
                          "memory file '%s' requires snapshot='external'", def->memory_file);
        return FALSE;
    }
    if (def->memory_file == NULL && def->memory == VB_SNAPSHOT_LOCATION_EXTERNAL) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, mem,
                          "an external memory snapshot requires file=");
        return FALSE;
    }
    if (offline && def->memory != VB_SNAPSHOT_LOCATION_DEFAULT &&
        def->memory != VB_SNAPSHOT_LOCATION_NO) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, mem,
                          "memory state cannot be saved with a %s snapshot",
                          vb_snapshot_state_to_string(def->state));
        return FALSE;
    }
    if (def->memory_file != NULL && !g_path_is_absolute(def->memory_file)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, mem,
                          "memory snapshot file '%s' must be an absolute path",
                          def->memory_file);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_existing(VbSnapshotDef *def, xmlNode *root, GError **error)
{
    g_autofree char *ctime = NULL;
    g_autofree char *state = NULL;
    xmlNode *node;
    int st;

    ctime = child_text(root, "creationTime");
    if (ctime == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, root,
                          "missing <creationTime> of an existing snapshot");
        return FALSE;
    }
    if (!g_ascii_string_to_signed(g_strstrip(ctime), 10, 0, G_MAXINT64, &def->creation_time,
                                  NULL)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, vb_xml_child(root, "creationTime"),
                          "invalid creation time '%s' (seconds since 1970)", ctime);
        return FALSE;
    }
    node = vb_xml_child(root, "parent");
    if (node != NULL) {
        def->parent_name = child_text(node, "name");
        if (def->parent_name == NULL) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, node, "missing <name>");
            return FALSE;
        }
        if (!vb_snapshot_name_validate(def->parent_name, error))
            return FALSE;
    }
    state = child_text(root, "state");
    if (state == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, root,
                          "missing <state> of an existing snapshot");
        return FALSE;
    }
    st = vb_snapshot_state_from_string(g_strstrip(state));
    if (st <= VB_SNAPSHOT_STATE_NOSTATE) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, vb_xml_child(root, "state"),
                          "invalid snapshot state '%s'", state);
        return FALSE;
    }
    def->state = (VbSnapshotState)st;

    node = vb_xml_child(root, "domain");
    if (node != NULL && xmlHasProp(node, (const xmlChar *)"type") != NULL) {
        def->dom = parse_domain_node(node, error);
        if (def->dom == NULL)
            return FALSE;
    } else if (node != NULL) {
        /* snapshots of old libvirt versions: <domain><uuid>...</uuid></domain> */
        g_autofree char *uuid = child_text(node, "uuid");
        unsigned char raw[16];

        if (uuid == NULL || !vb_uuid_parse(g_strstrip(uuid), raw)) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                              "a <domain> without type= must hold just a valid <uuid>");
            return FALSE;
        }
        def->dom_uuid = g_malloc(37);
        vb_uuid_format(raw, def->dom_uuid);
    }
    node = vb_xml_child(root, "inactiveDomain");
    if (node != NULL) {
        def->inactive_dom = parse_domain_node(node, error);
        if (def->inactive_dom == NULL)
            return FALSE;
    }
    return TRUE;
}

/* the <disk> children of <disks> or <revertDisks> (@what) into @out */
static gboolean
parse_disk_list(xmlNode *list, const char *what, guint parse_flags, GPtrArray *out,
                GError **error)
{
    for (xmlNode *c = list != NULL ? list->children : NULL; c != NULL; c = c->next) {
        VbSnapshotDiskDef *disk;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!vb_xml_is(c, "disk")) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, c,
                              "unexpected element in <%s> (only <disk>)", what);
            return FALSE;
        }
        disk = parse_disk(c, parse_flags, error);
        if (disk == NULL)
            return FALSE;
        g_ptr_array_add(out, disk);
    }
    return TRUE;
}

/* a revert's overlays: external files, each disk once, named as <disks> names them */
static gboolean
check_revert_disks(GPtrArray *disks, const VbDomainDef *dom, GError **error)
{
    for (guint i = 0; i < disks->len; i++) {
        const VbSnapshotDiskDef *d = g_ptr_array_index(disks, i);

        if (d->snapshot != VB_SNAPSHOT_LOCATION_EXTERNAL || d->source_path == NULL ||
            (d->type != NULL && g_strcmp0(d->type, "file") != 0)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "<revertDisks>: disk '%s' must be an external file with <source "
                        "file=>", d->name);
            return FALSE;
        }
    }
    return check_disks(disks, dom, error);
}

/*
 * VALIDATE (SnapshotCreateXML 512). libvirt checks the document against its RelaxNG
 * schema; we ship none and refuse instead what the parser does not know: what it keeps
 * verbatim only to write it back (the VbExtra of <domainsnapshot>, <disk> and <driver>)
 * and what it drops (other attributes and children of the elements it reads, namespaced
 * attributes). What the schema allows and we keep as it is stays allowed: <cookie>,
 * <disk><source>, <driver><metadata_cache>. The first of them by its line is named.
 */
typedef struct {
    long line;
    char *what; /* "unknown element <foo> in <domainsnapshot>" */
} Unknown;

static void
note(Unknown *u, long line, char *what)
{
    if (u->what != NULL && u->line <= line) {
        g_free(what);
        return;
    }
    g_free(u->what);
    u->what = what;
    u->line = line;
}

static gboolean
listed(const char *const table[], const xmlChar *name)
{
    return table != NULL && table[vb_rank_lookup(table, (const char *)name)] != NULL;
}

static char *
qualified(const xmlChar *name, const xmlNs *ns)
{
    if (ns != NULL && ns->prefix != NULL)
        return g_strdup_printf("%s:%s", (const char *)ns->prefix, (const char *)name);
    return g_strdup((const char *)name);
}

/* the first attribute of @node not in @known (or namespaced) */
static void
note_attrs(Unknown *u, xmlNode *node, const char *const known[])
{
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        g_autofree char *name = NULL;

        if (a->ns == NULL && listed(known, a->name))
            continue;
        name = qualified(a->name, a->ns);
        note(u, xmlGetLineNo(node), g_strdup_printf("unknown attribute %s= of <%s>", name,
                                                    (const char *)node->name));
        return;
    }
}

/* the children @extra keeps of @node, but @allowed (not namespaced) */
static void
note_kept(Unknown *u, const VbExtra *extra, xmlNode *node, const char *allowed)
{
    for (guint i = 0; extra->children != NULL && i < extra->children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(extra->children, i);

        /* vb_extra_collect() ranks namespaced elements G_MAXINT - 1 */
        if (raw->rank != G_MAXINT - 1 && g_strcmp0(raw->name, allowed) == 0)
            continue;
        note(u, raw->line, g_strdup_printf("unknown element <%s> in <%s>", raw->name,
                                           (const char *)node->name));
    }
}

/* an element read without a VbExtra: attributes not in @attrs, child elements not in
 * @children (those text only) */
static void
note_node(Unknown *u, xmlNode *node, const char *const attrs[], const char *const children[])
{
    note_attrs(u, node, attrs);
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        g_autofree char *name = NULL;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (c->ns == NULL && listed(children, c->name)) {
            note_node(u, c, NULL, NULL);
            continue;
        }
        name = qualified(c->name, c->ns);
        note(u, xmlGetLineNo(c), g_strdup_printf("unknown element <%s> in <%s>", name,
                                                 (const char *)node->name));
    }
}

/* <disks> or <revertDisks> and its <disk> elements, parsed into @disks in their order */
static void
note_disks(Unknown *u, xmlNode *list, GPtrArray *disks)
{
    guint i = 0;

    if (list == NULL)
        return;
    note_attrs(u, list, NULL);
    for (xmlNode *c = list->children; c != NULL && i < disks->len; c = c->next) {
        const VbSnapshotDiskDef *d;
        xmlNode *driver;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        d = g_ptr_array_index(disks, i++);
        note_attrs(u, c, disk_attrs);
        note_kept(u, &d->priv->extra, c, NULL);
        driver = vb_xml_child(c, "driver");
        if (driver != NULL) {
            note_attrs(u, driver, driver_attrs);
            note_kept(u, &d->priv->driver_extra, driver, "metadata_cache");
        }
    }
}

/* VALIDATE: refuses what the parser does not know (above) and keeps the embedded domains'
 * text for the domain module, which checks them as DefineXML's VALIDATE does */
static gboolean
validate_doc(VbSnapshotDef *def, xmlNode *root, GError **error)
{
    static const char *const text_only[] = {
        "name", "description", "state", "creationTime", "active", NULL,
    };
    static const char *const memory_attrs[] = { "snapshot", "file", NULL };
    static const char *const parent_children[] = { "name", NULL };
    static const char *const uuid_only[] = { "uuid", NULL };
    static const char *const domains[] = { "domain", "inactiveDomain" };
    Unknown u = { 0, NULL };
    xmlNode *n;

    note_attrs(&u, root, NULL);
    note_kept(&u, &def->priv->extra, root, "cookie");
    for (xmlNode *c = root->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && c->ns == NULL && listed(text_only, c->name))
            note_node(&u, c, NULL, NULL);
    }
    if ((n = vb_xml_child(root, "parent")) != NULL)
        note_node(&u, n, NULL, parent_children);
    if ((n = vb_xml_child(root, "memory")) != NULL)
        note_node(&u, n, memory_attrs, NULL);
    note_disks(&u, vb_xml_child(root, "disks"), def->disks);
    if (def->revert_disks != NULL)
        note_disks(&u, vb_xml_child(root, "revertDisks"), def->revert_disks);
    if (def->dom_uuid != NULL)
        note_node(&u, vb_xml_child(root, "domain"), NULL, uuid_only);
    if (u.what != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML, "line %ld: %s (VALIDATE)", u.line,
                    u.what);
        g_free(u.what);
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(domains); i++) {
        const VbDomainDef *dom = i == 0 ? def->dom : def->inactive_dom;

        if (dom != NULL &&
            (def->priv->domain_xml[i] = domain_node_text(vb_xml_child(root, domains[i]), TRUE,
                                                         error)) == NULL)
            return FALSE;
    }
    return TRUE;
}

static VbSnapshotDef *
parse_doc(xmlDoc *doc, guint parse_flags, GError **error)
{
    static const char *const unique[] = {
        "name",   "description",    "state",  "parent", "creationTime", "memory", "disks",
        "revertDisks", "domain", "inactiveDomain", "cookie", "active", NULL,
    };
    g_autoptr(VbSnapshotDef) def = NULL;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *disks;

    if (root == NULL || !vb_xml_is(root, "domainsnapshot")) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, root,
                          "root element must be <domainsnapshot>");
        return NULL;
    }
    if (!vb_xml_check_unique(root, unique, error))
        return NULL;

    def = g_new0(VbSnapshotDef, 1);
    def->priv = g_new0(struct _VbSnapshotDefPrivate, 1);
    def->disks = g_ptr_array_new_with_free_func((GDestroyNotify)snapshot_disk_free);
    def->name = child_text(root, "name"); /* not stripped: libvirt takes it as written */
    def->description = child_text(root, "description");

    if (parse_flags & VB_SNAPSHOT_PARSE_REDEFINE) {
        if (def->name == NULL) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, root,
                              "an existing snapshot must have a <name>");
            return NULL;
        }
        if (!parse_existing(def, root, error))
            return NULL;
    } else {
        def->creation_time = g_get_real_time() / G_USEC_PER_SEC;
        if (def->name == NULL)
            def->name = g_strdup_printf("%" G_GINT64_FORMAT, def->creation_time);
    }
    if (!vb_snapshot_name_validate(def->name, error))
        return NULL;
    if (!parse_memory(def, root, parse_flags, error))
        return NULL;

    disks = vb_xml_child(root, "disks");
    if (!parse_disk_list(disks, "disks", parse_flags, def->disks, error) ||
        !check_disks(def->disks, def->dom, error))
        return NULL;
    /* the overlays a revert to this external snapshot made (libvirt >= 9.7): only in an
     * existing snapshot's XML; a new snapshot's request ignores it, as <domain> */
    disks = vb_xml_child(root, "revertDisks");
    if (disks != NULL && (parse_flags & VB_SNAPSHOT_PARSE_REDEFINE)) {
        def->revert_disks = g_ptr_array_new_with_free_func((GDestroyNotify)snapshot_disk_free);
        if (!parse_disk_list(disks, "revertDisks", parse_flags, def->revert_disks, error) ||
            !check_revert_disks(def->revert_disks, def->dom, error))
            return NULL;
    }

    if (parse_flags & VB_SNAPSHOT_PARSE_INTERNAL) {
        g_autofree char *active = child_text(root, "active");
        gint64 v = 0;

        if (active == NULL ||
            !g_ascii_string_to_signed(g_strstrip(active), 10, 0, 1, &v, NULL)) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, root,
                              "a stored snapshot needs <active> 0 or 1");
            return NULL;
        }
        def->current = v == 1;
    }
    vb_extra_collect(&def->priv->extra, root, NULL, top_modelled, top_ranks);
    if ((parse_flags & VB_SNAPSHOT_PARSE_VALIDATE) && !validate_doc(def, root, error))
        return NULL;
    return g_steal_pointer(&def);
}

/**
 * vb_snapshot_def_parse_string:
 * @xml: <domainsnapshot> XML (libvirt compatible)
 * @parse_flags: #VbSnapshotParseFlags
 * @error: VB_ERROR_INVALID_XML for malformed or incomplete XML, VB_ERROR_INVALID_ARG for
 *     bad values (and the domain parser's errors for an embedded domain)
 *
 * Without %VB_SNAPSHOT_PARSE_REDEFINE this is a request for a new snapshot, as libvirt
 * reads it: <state>, <parent>, <creationTime>, <domain> and <inactiveDomain> are ignored,
 * the creation time is now and the name defaults to it. With %VB_SNAPSHOT_PARSE_VALIDATE
 * anything the parser would keep verbatim or drop, and libvirt's schema does not allow,
 * is VB_ERROR_INVALID_XML naming the first ("line 3: unknown element <foo> in
 * <domainsnapshot> (VALIDATE)"). Any thread.
 *
 * Returns: (transfer full): the definition, or %NULL
 */
VbSnapshotDef *
vb_snapshot_def_parse_string(const char *xml, guint parse_flags, GError **error)
{
    xmlDoc *doc;
    VbSnapshotDef *def;

    g_return_val_if_fail(xml != NULL, NULL);
    if (parse_flags & VB_SNAPSHOT_PARSE_INTERNAL)
        parse_flags |= VB_SNAPSHOT_PARSE_REDEFINE;
    doc = read_doc(xml, error);
    if (doc == NULL)
        return NULL;
    def = parse_doc(doc, parse_flags, error);
    xmlFreeDoc(doc);
    return def;
}

static void
format_disk(GString *buf, const VbSnapshotDiskDef *disk)
{
    g_autoptr(GString) ch = g_string_new(NULL);
    const char *type = disk->type;
    guint cursor = 0;

    if (type == NULL && (disk->source_path != NULL || disk->driver_type != NULL))
        type = "file";
    vb_fmt_indent(buf, 2);
    g_string_append(buf, "<disk");
    vb_fmt_attr(buf, "name", disk->name);
    if (disk->snapshot != VB_SNAPSHOT_LOCATION_DEFAULT)
        vb_fmt_attr(buf, "snapshot", vb_snapshot_location_to_string(disk->snapshot));
    vb_fmt_attr(buf, "type", type);
    vb_fmt_extra_attrs(buf, &disk->priv->extra);

    vb_fmt_raws_before(ch, &disk->priv->extra, 0, 3, &cursor);
    if (disk->priv->has_driver || disk->driver_type != NULL) {
        g_autoptr(GString) dch = g_string_new(NULL);
        guint dcur = 0;

        vb_fmt_indent(ch, 3);
        g_string_append(ch, "<driver");
        vb_fmt_attr(ch, "type", disk->driver_type);
        vb_fmt_extra_attrs(ch, &disk->priv->driver_extra);
        vb_fmt_raws_before(dch, &disk->priv->driver_extra, G_MAXINT, 4, &dcur);
        vb_fmt_close(ch, 3, "driver", dch);
    }
    vb_fmt_raws_before(ch, &disk->priv->extra, 1, 3, &cursor);
    if (disk->priv->source != NULL) {
        vb_fmt_raw(ch, disk->priv->source, 3);
    } else if (disk->source_path != NULL) {
        /* set by the service (an external snapshot's new image) */
        vb_fmt_indent(ch, 3);
        g_string_append(ch, "<source");
        vb_fmt_attr(ch, g_strcmp0(type, "block") == 0 ? "dev" : "file", disk->source_path);
        g_string_append(ch, "/>\n");
    }
    vb_fmt_raws_before(ch, &disk->priv->extra, G_MAXINT, 3, &cursor);
    vb_fmt_close(buf, 2, "disk", ch);
}

/* a domain's XML as a child of <domainsnapshot>, under @root_name */
static gboolean
format_domain(GString *buf, const VbDomainDef *dom, const char *root_name, guint flags,
              GError **error)
{
    guint dflags = VB_DOMAIN_DEF_FORMAT_INACTIVE;
    g_autofree char *xml = NULL;
    gsize len;
    int base;

    if (flags & VB_SNAPSHOT_FORMAT_SECURE)
        dflags |= VB_DOMAIN_DEF_FORMAT_SECURE;
    /* indented as it is written: newlines in its text content stay as they are */
    base = vb_fmt_push_base(1);
    xml = vb_domain_def_format(dom, dflags, error);
    vb_fmt_pop_base(base);
    if (xml == NULL)
        return FALSE;
    len = strlen(xml);
    while (len > 0 && xml[len - 1] == '\n')
        xml[--len] = '\0';
    if (!g_str_has_prefix(xml, "<domain") || !g_str_has_suffix(xml, "</domain>")) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "unexpected shape of a formatted domain");
        return FALSE;
    }
    xml[len - strlen("</domain>")] = '\0';
    vb_fmt_indent(buf, 1);
    g_string_append_printf(buf, "<%s%s", root_name, xml + strlen("<domain"));
    vb_fmt_indent(buf, 1);
    g_string_append_printf(buf, "</%s>\n", root_name);
    return TRUE;
}

/* XML 1.0 text: UTF-8 without control characters other than tab, newline, return */
static gboolean
check_text(const char *what, const char *str, GError **error)
{
    if (str == NULL)
        return TRUE;
    if (!g_utf8_validate(str, -1, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "snapshot %s is not valid UTF-8",
                    what);
        return FALSE;
    }
    for (const char *p = str; *p != '\0'; p++) {
        if ((guchar)*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "snapshot %s holds control character 0x%02x, which XML cannot hold",
                        what, (guint)(guchar)*p);
            return FALSE;
        }
    }
    return TRUE;
}

/* what a caller may have set by hand must still be XML text */
static gboolean
check_strings(const VbSnapshotDef *def, GError **error)
{
    if (!vb_snapshot_name_validate(def->name, error) ||
        (def->parent_name != NULL && !vb_snapshot_name_validate(def->parent_name, error)) ||
        !check_text("description", def->description, error) ||
        !check_text("memory file", def->memory_file, error) ||
        !check_text("domain UUID", def->dom_uuid, error))
        return FALSE;
    for (guint i = 0; i < def->disks->len; i++) {
        const VbSnapshotDiskDef *d = g_ptr_array_index(def->disks, i);

        if (!check_text("disk name", d->name, error) || !check_text("disk type", d->type, error) ||
            !check_text("disk driver type", d->driver_type, error))
            return FALSE;
    }
    for (guint i = 0; def->revert_disks != NULL && i < def->revert_disks->len; i++) {
        const VbSnapshotDiskDef *d = g_ptr_array_index(def->revert_disks, i);

        if (!check_text("revert disk name", d->name, error) ||
            !check_text("revert disk driver type", d->driver_type, error) ||
            !check_text("revert disk image", d->source_path, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_snapshot_def_format:
 * @def: a definition
 * @format_flags: #VbSnapshotFormatFlags
 *
 * Writes @def as libvirt does, with what was kept verbatim at libvirt's positions.
 *
 * Returns: (transfer full): the XML, or %NULL (VB_ERROR_INVALID_ARG) when a string set by
 *   the caller is not a valid name or not XML text, or when the embedded domain cannot be
 *   formatted
 */
char *
vb_snapshot_def_format(const VbSnapshotDef *def, guint format_flags, GError **error)
{
    g_autoptr(GString) buf = g_string_new("<domainsnapshot");
    const VbExtra *extra = &def->priv->extra;
    guint cursor = 0;

    if (!check_strings(def, error))
        return NULL;

    vb_fmt_extra_attrs(buf, extra);
    g_string_append(buf, ">\n");
    vb_fmt_raws_before(buf, extra, 0, 1, &cursor);
    vb_fmt_text_elem(buf, 1, "name", def->name);
    vb_fmt_raws_before(buf, extra, 1, 1, &cursor);
    vb_fmt_text_elem(buf, 1, "description", def->description);
    vb_fmt_raws_before(buf, extra, 2, 1, &cursor);
    if (def->state != VB_SNAPSHOT_STATE_NOSTATE)
        vb_fmt_text_elem(buf, 1, "state", vb_snapshot_state_to_string(def->state));
    vb_fmt_raws_before(buf, extra, 3, 1, &cursor);
    if (def->parent_name != NULL) {
        g_string_append(buf, "  <parent>\n");
        vb_fmt_text_elem(buf, 2, "name", def->parent_name);
        g_string_append(buf, "  </parent>\n");
    }
    vb_fmt_raws_before(buf, extra, 4, 1, &cursor);
    /* libvirt leaves out 0, which an existing snapshot then cannot be read back with */
    if (def->creation_time != 0 || def->state != VB_SNAPSHOT_STATE_NOSTATE)
        g_string_append_printf(buf, "  <creationTime>%" G_GINT64_FORMAT "</creationTime>\n",
                               def->creation_time);
    vb_fmt_raws_before(buf, extra, 5, 1, &cursor);
    if (def->memory != VB_SNAPSHOT_LOCATION_DEFAULT) {
        g_string_append(buf, "  <memory");
        vb_fmt_attr(buf, "snapshot", vb_snapshot_location_to_string(def->memory));
        vb_fmt_attr(buf, "file", def->memory_file);
        g_string_append(buf, "/>\n");
    }
    vb_fmt_raws_before(buf, extra, 6, 1, &cursor);
    if (def->disks->len > 0) {
        g_string_append(buf, "  <disks>\n");
        for (guint i = 0; i < def->disks->len; i++)
            format_disk(buf, g_ptr_array_index(def->disks, i));
        g_string_append(buf, "  </disks>\n");
    }
    vb_fmt_raws_before(buf, extra, RANK_REVERT_DISKS, 1, &cursor);
    if (def->revert_disks != NULL && def->revert_disks->len > 0) {
        g_string_append(buf, "  <revertDisks>\n");
        for (guint i = 0; i < def->revert_disks->len; i++)
            format_disk(buf, g_ptr_array_index(def->revert_disks, i));
        g_string_append(buf, "  </revertDisks>\n");
    }
    vb_fmt_raws_before(buf, extra, RANK_DOMAIN, 1, &cursor);
    if (def->dom != NULL) {
        if (!format_domain(buf, def->dom, "domain", format_flags, error))
            return NULL;
    } else if (def->dom_uuid != NULL) {
        g_string_append_printf(buf, "  <domain>\n    <uuid>%s</uuid>\n  </domain>\n",
                               def->dom_uuid);
    }
    vb_fmt_raws_before(buf, extra, RANK_DOMAIN + 1, 1, &cursor);
    if (def->inactive_dom != NULL &&
        !format_domain(buf, def->inactive_dom, "inactiveDomain", format_flags, error))
        return NULL;
    vb_fmt_raws_before(buf, extra, G_MAXINT, 1, &cursor);
    if (format_flags & VB_SNAPSHOT_FORMAT_INTERNAL)
        g_string_append_printf(buf, "  <active>%d</active>\n", def->current ? 1 : 0);
    g_string_append(buf, "</domainsnapshot>\n");
    return g_string_free(g_steal_pointer(&buf), FALSE);
}

/**
 * vb_snapshot_def_align_disks:
 * @def: a new snapshot's definition
 * @dom: the domain's definition at the time of the snapshot
 * @default_loc: snapshot= for the disks @def does not name (internal or external)
 * @error: VB_ERROR_INVALID_ARG naming the disk
 *
 * Like libvirt's alignment: afterwards @def has one disk per disk of @dom, in @dom's
 * order, named by target (a disk named by its source path is renamed); disks @def did not
 * name get @default_loc, or "no" when they have no source (an empty CD-ROM).
 */
gboolean
vb_snapshot_def_align_disks(VbSnapshotDef *def, const VbDomainDef *dom,
                            VbSnapshotLocation default_loc, GError **error)
{
    g_autoptr(GPtrArray) infos = vb_domain_def_get_disk_infos(dom);
    g_autoptr(GPtrArray) aligned = g_ptr_array_new_with_free_func(
        (GDestroyNotify)snapshot_disk_free);
    g_autoptr(GHashTable) by_target = g_hash_table_new(g_str_hash, g_str_equal);

    if (!check_disks(def->disks, dom, error))
        return FALSE;
    for (guint i = 0; i < def->disks->len; i++) {
        VbSnapshotDiskDef *disk = g_ptr_array_index(def->disks, i);
        const char *target = lookup_domain_disk(infos, disk->name);

        g_hash_table_insert(by_target, (gpointer)target, disk);
    }
    for (guint i = 0; i < infos->len; i++) {
        const VbDomainDiskInfo *info = g_ptr_array_index(infos, i);
        VbSnapshotDiskDef *disk = g_hash_table_lookup(by_target, info->target);

        if (disk != NULL) {
            /* moved from def->disks below, which is emptied without freeing */
            if (g_strcmp0(disk->name, info->target) != 0) {
                g_free(disk->name);
                disk->name = g_strdup(info->target);
            }
            if (disk->snapshot == VB_SNAPSHOT_LOCATION_DEFAULT)
                disk->snapshot = default_loc;
        } else {
            disk = g_new0(VbSnapshotDiskDef, 1);
            disk->priv = g_new0(struct _VbSnapshotDiskPrivate, 1);
            disk->name = g_strdup(info->target);
            disk->snapshot = info->path == NULL ? VB_SNAPSHOT_LOCATION_NO : default_loc;
        }
        g_ptr_array_add(aligned, disk);
    }
    g_ptr_array_set_free_func(def->disks, NULL);
    g_ptr_array_unref(def->disks);
    def->disks = g_steal_pointer(&aligned);
    return TRUE;
}
