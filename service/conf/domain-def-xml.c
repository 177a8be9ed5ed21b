/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generic XML helpers of conf/: verbatim serialization of elements we do not model,
 * escaping, attribute helpers, error messages with line numbers, addresses.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

/**
 * vb_raw_elem_free:
 * @raw: (nullable): a kept element
 */
void
vb_raw_elem_free(VbRawElem *raw)
{
    if (raw == NULL)
        return;
    g_free(raw->name);
    g_free(raw->xml);
    g_free(raw);
}

/**
 * vb_extra_clear:
 * @extra: what was kept of one element; emptied, not freed
 */
void
vb_extra_clear(VbExtra *extra)
{
    g_clear_pointer(&extra->attrs, g_ptr_array_unref);
    g_clear_pointer(&extra->children, g_ptr_array_unref);
}

/**
 * vb_sub_elem_clear:
 * @sub: a sub element; emptied, not freed
 */
void
vb_sub_elem_clear(VbSubElem *sub)
{
    vb_extra_clear(&sub->extra);
    sub->present = FALSE;
}

/**
 * vb_address_clear:
 * @addr: an address; emptied, not freed
 */
void
vb_address_clear(VbDeviceAddress *addr)
{
    g_free(addr->type_str);
    vb_extra_clear(&addr->extra);
    memset(addr, 0, sizeof(*addr));
}

/**
 * vb_rank_lookup:
 * @table: NULL-terminated names in libvirt's order
 * @name: an element name
 *
 * Returns: the index of @name in @table, or the table's length when absent.
 */
int
vb_rank_lookup(const char *const table[], const char *name)
{
    int i;

    for (i = 0; table[i] != NULL; i++) {
        if (g_strcmp0(table[i], name) == 0)
            return i;
    }
    return i;
}

/**
 * vb_xml_is:
 * @node: an XML node
 * @name: an element name
 *
 * Returns: whether @node is an element @name in no namespace
 */
gboolean
vb_xml_is(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && node->ns == NULL &&
           strcmp((const char *)node->name, name) == 0;
}

/**
 * vb_xml_child:
 * @parent: an element
 * @name: element name (no namespace)
 *
 * Returns: (nullable): the first child element @name of @parent
 */
xmlNode *
vb_xml_child(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent->children; c != NULL; c = c->next) {
        if (vb_xml_is(c, name))
            return c;
    }
    return NULL;
}

/**
 * vb_xml_insert_child:
 * @parent: an element
 * @name: the new element's name
 * @after: NULL-terminated names of the children it follows
 *
 * Returns: a new element @name in @parent after its last child named one of @after,
 *   else as its first child (the order libvirt writes the children in)
 */
xmlNode *
vb_xml_insert_child(xmlNode *parent, const char *name, const char *const after[])
{
    xmlNode *node = xmlNewNode(NULL, (const xmlChar *)name);
    xmlNode *prev = NULL;

    for (xmlNode *c = parent->children; c != NULL; c = c->next) {
        for (guint i = 0; after[i] != NULL; i++) {
            if (vb_xml_is(c, after[i]))
                prev = c;
        }
    }
    if (prev != NULL)
        return xmlAddNextSibling(prev, node);
    if (parent->children != NULL)
        return xmlAddPrevSibling(parent->children, node);
    return xmlAddChild(parent, node);
}

/**
 * vb_xml_prop:
 * @node: an element
 * @name: attribute name (no namespace)
 *
 * Returns: (transfer full) (nullable): the attribute value
 */
char *
vb_xml_prop(xmlNode *node, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(node, (const xmlChar *)name);
    char *ret;

    if (v == NULL)
        return NULL;
    ret = g_strdup((const char *)v);
    xmlFree(v);
    return ret;
}

/**
 * vb_xml_text:
 * @node: an element
 *
 * Returns: (transfer full): the text content of @node (never %NULL)
 */
char *
vb_xml_text(xmlNode *node)
{
    xmlChar *v = xmlNodeGetContent(node);
    char *ret = g_strdup(v != NULL ? (const char *)v : "");

    xmlFree(v);
    return ret;
}

static gboolean
in_table(const char *const table[], const char *name)
{
    for (guint i = 0; table != NULL && table[i] != NULL; i++) {
        if (strcmp(table[i], name) == 0)
            return TRUE;
    }
    return FALSE;
}

static char *
qualified_name(const xmlChar *name, const xmlNs *ns)
{
    if (ns != NULL && ns->prefix != NULL)
        return g_strdup_printf("%s:%s", (const char *)ns->prefix, (const char *)name);
    return g_strdup((const char *)name);
}

/**
 * vb_xml_escape:
 * @buf: output
 * @str: UTF-8 text
 * @attr: escape for a single-quoted attribute value
 * @raw: also escape newlines and tabs (text of verbatim elements, whose literal newlines
 *       must stay structural)
 */
void
vb_xml_escape(GString *buf, const char *str, gboolean attr, gboolean raw)
{
    for (const char *p = str; *p != '\0'; p++) {
        switch (*p) {
        case '&': g_string_append(buf, "&amp;"); break;
        case '<': g_string_append(buf, "&lt;"); break;
        case '>': g_string_append(buf, "&gt;"); break;
        case '\r': g_string_append(buf, "&#13;"); break;
        case '\'':
            g_string_append(buf, attr ? "&apos;" : "'");
            break;
        case '"':
            g_string_append(buf, attr ? "&quot;" : "\"");
            break;
        case '\n':
            g_string_append(buf, attr || raw ? "&#10;" : "\n");
            break;
        case '\t':
            g_string_append(buf, attr ? "&#9;" : "\t");
            break;
        default:
            g_string_append_c(buf, *p);
        }
    }
}

/* the layout of a kept element as it is stored: never the formatting thread's base level
 * (vb_fmt_push_base()), which vb_fmt_raw() adds when the element is written out */
static void
indent_kept(GString *buf, int level)
{
    for (int i = 0; i < level; i++)
        g_string_append(buf, "  ");
}

static gboolean
prefix_declared(GPtrArray *declared, const char *prefix)
{
    for (guint i = 0; i < declared->len; i++) {
        if (strcmp(g_ptr_array_index(declared, i), prefix) == 0)
            return TRUE;
    }
    return FALSE;
}

static void
declare_ns(GString *buf, GPtrArray *declared, const xmlNs *ns)
{
    const char *prefix = ns->prefix != NULL ? (const char *)ns->prefix : "";

    if (strcmp(prefix, "xml") == 0 || prefix_declared(declared, prefix))
        return;
    g_ptr_array_add(declared, g_strdup(prefix));
    g_string_append(buf, *prefix ? " xmlns:" : " xmlns");
    g_string_append(buf, prefix);
    g_string_append(buf, "='");
    /* hrefs are kept as written and checked to need no escaping (check_namespaces()) */
    g_string_append(buf, ns->href != NULL ? (const char *)ns->href : "");
    g_string_append_c(buf, '\'');
}

/* inline when there is text that is not just layout, or nothing but text */
static gboolean
node_is_inline(xmlNode *node)
{
    gboolean only_text = TRUE;

    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (!xmlIsBlankNode(c))
                return TRUE;
        } else {
            only_text = FALSE;
        }
    }
    return only_text;
}

/*
 * Comments and processing instructions cannot escape newlines, and literal newlines in a
 * kept element must be layout only (they are re-indented): fold them into spaces.
 */
static void
append_one_line(GString *buf, const xmlChar *text)
{
    for (const xmlChar *p = text; p != NULL && *p; p++)
        g_string_append_c(buf, *p == '\n' || *p == '\r' ? ' ' : (char)*p);
}

static void serialize_node(GString *buf, xmlNode *node, int level, gboolean inl,
                           GPtrArray *declared);

static void
serialize_element(GString *buf, xmlNode *node, int level, gboolean inl, GPtrArray *declared)
{
    g_autofree char *name = qualified_name(node->name, node->ns);
    guint ndeclared = declared->len;
    gboolean child_inline;

    g_string_append_printf(buf, "<%s", name);
    for (xmlNs *ns = node->nsDef; ns != NULL; ns = ns->next)
        declare_ns(buf, declared, ns);
    if (node->ns != NULL)
        declare_ns(buf, declared, node->ns);
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        if (a->ns != NULL)
            declare_ns(buf, declared, a->ns);
    }
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        g_autofree char *aname = qualified_name(a->name, a->ns);
        xmlChar *v = xmlNodeGetContent((xmlNode *)a);

        g_string_append_printf(buf, " %s='", aname);
        vb_xml_escape(buf, v != NULL ? (const char *)v : "", TRUE, TRUE);
        g_string_append_c(buf, '\'');
        xmlFree(v);
    }
    if (node->children == NULL) {
        g_string_append(buf, "/>");
    } else {
        child_inline = inl || node_is_inline(node);
        g_string_append_c(buf, '>');
        for (xmlNode *c = node->children; c != NULL; c = c->next)
            serialize_node(buf, c, level + 1, child_inline, declared);
        if (!child_inline) {
            g_string_append_c(buf, '\n');
            indent_kept(buf, level);
        }
        g_string_append_printf(buf, "</%s>", name);
    }
    while (declared->len > ndeclared)
        g_ptr_array_remove_index(declared, declared->len - 1);
}

static void
serialize_node(GString *buf, xmlNode *node, int level, gboolean inl, GPtrArray *declared)
{
    if (!inl) {
        if ((node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE))
            return; /* only layout whitespace reaches here */
        g_string_append_c(buf, '\n');
        indent_kept(buf, level);
    }
    switch (node->type) {
    case XML_ELEMENT_NODE:
        serialize_element(buf, node, level, inl, declared);
        break;
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
        vb_xml_escape(buf, node->content != NULL ? (const char *)node->content : "", FALSE,
                      TRUE);
        break;
    case XML_COMMENT_NODE:
        g_string_append(buf, "<!--");
        append_one_line(buf, node->content);
        g_string_append(buf, "-->");
        break;
    case XML_PI_NODE:
        g_string_append_printf(buf, "<?%s", (const char *)node->name);
        if (node->content != NULL && *node->content) {
            g_string_append_c(buf, ' ');
            append_one_line(buf, node->content);
        }
        g_string_append(buf, "?>");
        break;
    default:
        break; /* entity references cannot occur: documents with a DTD are refused */
    }
}

/**
 * vb_raw_elem_new:
 * @node: an element to keep verbatim
 * @rank: its position among its siblings
 *
 * Returns: (transfer full): the element serialized at level 0
 */
VbRawElem *
vb_raw_elem_new(xmlNode *node, int rank)
{
    VbRawElem *raw = g_new0(VbRawElem, 1);
    g_autoptr(GString) buf = g_string_new(NULL);
    g_autoptr(GPtrArray) declared = g_ptr_array_new_with_free_func(g_free);

    serialize_element(buf, node, 0, FALSE, declared);
    raw->rank = rank;
    raw->name = qualified_name(node->name, node->ns);
    raw->xml = g_string_free(g_steal_pointer(&buf), FALSE);
    raw->line = xmlGetLineNo(node);
    return raw;
}

typedef struct {
    gpointer ptr;
    int rank;
    guint idx;
} RankedPtr;

static gint
ranked_cmp(gconstpointer a, gconstpointer b)
{
    const RankedPtr *ra = a;
    const RankedPtr *rb = b;

    if (ra->rank != rb->rank)
        return ra->rank < rb->rank ? -1 : 1;
    return ra->idx < rb->idx ? -1 : ra->idx > rb->idx;
}

/**
 * vb_sort_by_rank:
 * @arr: (nullable): array to sort in place
 * @rank_of: returns the rank of an element
 *
 * Stable sort: equal ranks keep their order. O(n log n).
 */
void
vb_sort_by_rank(GPtrArray *arr, int (*rank_of)(gconstpointer))
{
    g_autofree RankedPtr *tmp = NULL;

    if (arr == NULL || arr->len < 2)
        return;
    tmp = g_new(RankedPtr, arr->len);
    for (guint i = 0; i < arr->len; i++) {
        tmp[i].ptr = arr->pdata[i];
        tmp[i].rank = rank_of(arr->pdata[i]);
        tmp[i].idx = i;
    }
    qsort(tmp, arr->len, sizeof(RankedPtr), ranked_cmp);
    for (guint i = 0; i < arr->len; i++)
        arr->pdata[i] = tmp[i].ptr;
}

static int
raw_rank(gconstpointer p)
{
    return ((const VbRawElem *)p)->rank;
}

/**
 * vb_extra_collect:
 * @extra: (out caller-allocates): where to keep what is not modelled
 * @node: the element
 * @known_attrs: (nullable): attributes read by the caller
 * @modelled_children: (nullable): child elements read by the caller
 * @ranks: (nullable): libvirt's order of children, for the position of kept ones
 *
 * Keeps unknown attributes and child elements of @node. Text is not kept.
 */
void
vb_extra_collect(VbExtra *extra, xmlNode *node, const char *const known_attrs[],
                 const char *const modelled_children[], const char *const ranks[])
{
    static const char *const none[] = { NULL };

    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        xmlChar *v;

        if (a->ns == NULL && in_table(known_attrs, (const char *)a->name))
            continue;
        if (a->ns != NULL)
            continue; /* namespaced attributes are not kept on modelled elements */
        if (extra->attrs == NULL)
            extra->attrs = g_ptr_array_new_with_free_func(g_free);
        v = xmlNodeGetContent((xmlNode *)a);
        g_ptr_array_add(extra->attrs, g_strdup((const char *)a->name));
        g_ptr_array_add(extra->attrs, g_strdup(v != NULL ? (const char *)v : ""));
        xmlFree(v);
    }
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (c->ns == NULL && in_table(modelled_children, (const char *)c->name))
            continue;
        if (extra->children == NULL)
            extra->children = g_ptr_array_new_with_free_func((GDestroyNotify)vb_raw_elem_free);
        g_ptr_array_add(extra->children,
                        vb_raw_elem_new(c, c->ns != NULL ? G_MAXINT - 1
                                                         : vb_rank_lookup(ranks ? ranks : none,
                                                                          (const char *)c->name)));
    }
    vb_sort_by_rank(extra->children, raw_rank);
}

/* levels added to every vb_fmt_indent() of this thread: a document formatted as the child
 * of another (a domain inside <domainsnapshot>) is indented as it is written, never
 * afterwards, where the newlines of text content could not be told from the layout's */
static __thread int fmt_base_level;

/**
 * vb_fmt_indent:
 * @buf: output
 * @level: nesting level (2 spaces each), plus the thread's base (vb_fmt_push_base())
 */
void
vb_fmt_indent(GString *buf, int level)
{
    for (int i = 0; i < level + fmt_base_level; i++)
        g_string_append(buf, "  ");
}

/**
 * vb_fmt_push_base:
 * @levels: levels to add to every indentation this thread writes from now on
 *
 * Returns: the previous base, to give back to vb_fmt_pop_base()
 */
int
vb_fmt_push_base(int levels)
{
    int old = fmt_base_level;

    fmt_base_level += levels;
    return old;
}

/**
 * vb_fmt_pop_base:
 * @old: what vb_fmt_push_base() returned
 */
void
vb_fmt_pop_base(int old)
{
    fmt_base_level = old;
}

/**
 * vb_fmt_empty_elem:
 * @buf: output
 * @level: indentation
 * @name: element name, written as `<name/>`
 */
void
vb_fmt_empty_elem(GString *buf, int level, const char *name)
{
    vb_fmt_indent(buf, level);
    g_string_append_printf(buf, "<%s/>\n", name);
}

/**
 * vb_fmt_attr:
 * @buf: output
 * @name: attribute name
 * @value: (nullable): value; nothing is written when %NULL
 */
void
vb_fmt_attr(GString *buf, const char *name, const char *value)
{
    if (value == NULL)
        return;
    g_string_append_printf(buf, " %s='", name);
    vb_xml_escape(buf, value, TRUE, TRUE);
    g_string_append_c(buf, '\'');
}

/**
 * vb_fmt_extra_attrs:
 * @buf: output
 * @extra: kept attributes to write
 */
void
vb_fmt_extra_attrs(GString *buf, const VbExtra *extra)
{
    for (guint i = 0; extra->attrs != NULL && i + 1 < extra->attrs->len; i += 2)
        vb_fmt_attr(buf, g_ptr_array_index(extra->attrs, i),
                    g_ptr_array_index(extra->attrs, i + 1));
}

/**
 * vb_fmt_raw:
 * @buf: output
 * @raw: a kept element
 * @level: indentation level
 *
 * Writes @raw re-indented at @level, with a trailing newline.
 */
void
vb_fmt_raw(GString *buf, const VbRawElem *raw, int level)
{
    vb_fmt_indent(buf, level);
    for (const char *p = raw->xml; *p != '\0'; p++) {
        g_string_append_c(buf, *p);
        if (*p == '\n')
            vb_fmt_indent(buf, level);
    }
    g_string_append_c(buf, '\n');
}

/**
 * vb_fmt_raws_before:
 * @buf: output
 * @extra: kept children
 * @rank: write kept children ranked before this one (G_MAXINT: all the rest)
 * @level: indentation level
 * @cursor: (inout): how many were written so far; start at 0
 *
 * The children are sorted by rank (vb_extra_collect()), so calling this with growing ranks
 * interleaves them with the modelled ones in libvirt's order.
 */
void
vb_fmt_raws_before(GString *buf, const VbExtra *extra, int rank, int level, guint *cursor)
{
    GPtrArray *ch = extra->children;

    if (ch == NULL)
        return;
    while (*cursor < ch->len) {
        const VbRawElem *raw = g_ptr_array_index(ch, *cursor);
        if (raw->rank >= rank)
            break;
        vb_fmt_raw(buf, raw, level);
        (*cursor)++;
    }
}

/**
 * vb_fmt_close:
 * @buf: output, positioned after the opening tag's attributes
 * @level: level of the element
 * @name: element name
 * @children: (nullable): its formatted children
 *
 * Ends the element as `/>` when @children is empty.
 */
void
vb_fmt_close(GString *buf, int level, const char *name, GString *children)
{
    if (children == NULL || children->len == 0) {
        g_string_append(buf, "/>\n");
        return;
    }
    g_string_append(buf, ">\n");
    g_string_append_len(buf, children->str, children->len);
    vb_fmt_indent(buf, level);
    g_string_append_printf(buf, "</%s>\n", name);
}

/**
 * vb_fmt_text_elem:
 * @buf: output
 * @level: indentation
 * @name: element name
 * @text: (nullable): content; nothing written when %NULL
 */
void
vb_fmt_text_elem(GString *buf, int level, const char *name, const char *text)
{
    if (text == NULL)
        return;
    vb_fmt_indent(buf, level);
    g_string_append_printf(buf, "<%s>", name);
    vb_xml_escape(buf, text, FALSE, FALSE);
    g_string_append_printf(buf, "</%s>\n", name);
}

/**
 * vb_fmt_sub_elem:
 * @buf: output
 * @level: indentation
 * @name: element name
 * @sub: the element's kept attributes and children
 * @first_attrs: (nullable): NULL-terminated name, value pairs written first (NULL values
 *     skipped)
 */
void
vb_fmt_sub_elem(GString *buf, int level, const char *name, const VbSubElem *sub,
                const char *first_attrs[])
{
    g_autoptr(GString) ch = g_string_new(NULL);
    guint cursor = 0;

    if (!sub->present)
        return;
    vb_fmt_indent(buf, level);
    g_string_append_printf(buf, "<%s", name);
    for (guint i = 0; first_attrs != NULL && first_attrs[i] != NULL; i += 2)
        vb_fmt_attr(buf, first_attrs[i], first_attrs[i + 1]);
    vb_fmt_extra_attrs(buf, &sub->extra);
    vb_fmt_raws_before(ch, &sub->extra, G_MAXINT, level + 1, &cursor);
    vb_fmt_close(buf, level, name, ch);
}

/**
 * vb_set_error_line:
 * @error: (out): error to set
 * @code: a #VbErrorCode
 * @node: (nullable): the element at fault, for its line number and name
 * @fmt: message
 *
 * Sets "line N: <elem>: message".
 */
void
vb_set_error_line(GError **error, int code, const xmlNode *node, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (node == NULL) {
        g_set_error_literal(error, VB_ERROR, code, msg);
        return;
    }
    g_set_error(error, VB_ERROR, code, "line %ld: <%s>: %s", xmlGetLineNo(node),
                (const char *)node->name, msg);
}

/**
 * vb_xml_check_unique:
 * @parent: an element
 * @names: NULL-terminated names of children (in no namespace) that may appear only once
 * @error: error (VB_ERROR_INVALID_XML)
 *
 * We model these children as single values, so a second copy would otherwise be lost.
 * Linear in the number of children for each name in @names.
 *
 * Returns: whether none of @names appears twice; on failure @error reads
 *     "line N: <parent>: duplicate <child> (first at line M)"
 */
gboolean
vb_xml_check_unique(xmlNode *parent, const char *const names[], GError **error)
{
    for (xmlNode *c = parent->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || c->ns != NULL ||
            !in_table(names, (const char *)c->name))
            continue;
        for (xmlNode *prev = parent->children; prev != c; prev = prev->next) {
            if (!vb_xml_is(prev, (const char *)c->name))
                continue;
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                        "line %ld: <%s>: duplicate <%s> (first at line %ld)", xmlGetLineNo(c),
                        (const char *)parent->name, (const char *)c->name,
                        xmlGetLineNo(prev));
            return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_extra_keep_repeats:
 * @extra: what is kept of @parent
 * @parent: an element
 * @name: a modelled child that may repeat; the first one is modelled, the others are kept
 * @ranks: (nullable): libvirt's order of @parent's children
 *
 * Call after vb_extra_collect() listed @name as modelled.
 */
void
vb_extra_keep_repeats(VbExtra *extra, xmlNode *parent, const char *name,
                      const char *const ranks[])
{
    static const char *const none[] = { NULL };
    gboolean first = TRUE;

    for (xmlNode *c = parent->children; c != NULL; c = c->next) {
        if (!vb_xml_is(c, name))
            continue;
        if (first) {
            first = FALSE;
            continue;
        }
        if (extra->children == NULL)
            extra->children = g_ptr_array_new_with_free_func((GDestroyNotify)vb_raw_elem_free);
        g_ptr_array_add(extra->children,
                        vb_raw_elem_new(c, vb_rank_lookup(ranks ? ranks : none, name)));
    }
    vb_sort_by_rank(extra->children, raw_rank);
}

/**
 * vb_xml_parse_uint:
 * @node: element, for the error message
 * @attr: (nullable): attribute name, for the message; %NULL for element text
 * @str: the text (decimal, or hexadecimal with 0x)
 * @max: largest accepted value
 * @out: (out): result
 * @error: error
 */
gboolean
vb_xml_parse_uint(xmlNode *node, const char *attr, const char *str, guint max, guint *out,
                  GError **error)
{
    g_autofree char *s = g_strstrip(g_strdup(str));
    guint64 v;
    char *end = NULL;

    if (g_ascii_isdigit(s[0])) {
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && g_ascii_isxdigit(s[2]))
            v = g_ascii_strtoull(s + 2, &end, 16);
        else
            v = g_ascii_strtoull(s, &end, 10);
        if (*end == '\0' && v <= max) {
            *out = (guint)v;
            return TRUE;
        }
    }
    if (attr != NULL)
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "attribute '%s' must be an integer between 0 and %u, got '%s'", attr,
                          max, str);
    else
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "value must be an integer between 0 and %u, got '%s'", max, str);
    return FALSE;
}

/**
 * vb_xml_prop_enum:
 * @node: element
 * @attr: attribute name
 * @table: NULL-terminated accepted values
 * @required: whether a missing attribute is an error
 * @out: (out) (transfer full): the value (NULL when absent)
 * @error: error
 */
gboolean
vb_xml_prop_enum(xmlNode *node, const char *attr, const char *const table[], gboolean required,
                 char **out, GError **error)
{
    g_autofree char *v = vb_xml_prop(node, attr);
    g_autofree char *list = NULL;

    if (v == NULL && !required) {
        *out = NULL;
        return TRUE;
    }
    if (v != NULL && in_table(table, v)) {
        *out = g_steal_pointer(&v);
        return TRUE;
    }
    list = g_strjoinv(", ", (char **)table);
    if (v == NULL)
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "missing attribute '%s' (one of: %s)", attr, list);
    else
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "invalid value '%s' for attribute '%s' (expected one of: %s)", v, attr,
                          list);
    return FALSE;
}

/**
 * vb_xml_prop_yesno:
 * @node: element
 * @attr: attribute
 * @yes: the "true" spelling ("yes", "on")
 * @no: the "false" spelling
 * @out: (out): -1 absent, 1 yes, 0 no
 * @error: error
 */
gboolean
vb_xml_prop_yesno(xmlNode *node, const char *attr, const char *yes, const char *no, int *out,
                  GError **error)
{
    g_autofree char *v = vb_xml_prop(node, attr);

    if (v == NULL)
        *out = -1;
    else if (strcmp(v, yes) == 0)
        *out = 1;
    else if (strcmp(v, no) == 0)
        *out = 0;
    else {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "invalid value '%s' for attribute '%s' (expected '%s' or '%s')", v,
                          attr, yes, no);
        return FALSE;
    }
    return TRUE;
}

static const char *
extra_attr_lookup(const VbExtra *extra, const char *name)
{
    for (guint i = 0; extra->attrs != NULL && i + 1 < extra->attrs->len; i += 2) {
        if (strcmp(g_ptr_array_index(extra->attrs, i), name) == 0)
            return g_ptr_array_index(extra->attrs, i + 1);
    }
    return NULL;
}

/**
 * vb_fmt_attrs_ordered:
 * @buf: output
 * @order: NULL-terminated attribute names in libvirt's order
 * @modelled: (nullable): NULL-terminated name, value pairs (NULL values are skipped)
 * @extra: kept attributes
 *
 * Writes the attributes named in @order first, taking each from @modelled or @extra, then
 * the remaining modelled ones, then the remaining kept ones.
 */
void
vb_fmt_attrs_ordered(GString *buf, const char *const order[], const char *const modelled[],
                     const VbExtra *extra)
{
    for (guint i = 0; order[i] != NULL; i++) {
        gboolean is_modelled = FALSE;

        for (guint j = 0; modelled != NULL && modelled[j] != NULL; j += 2) {
            if (strcmp(modelled[j], order[i]) == 0) {
                vb_fmt_attr(buf, order[i], modelled[j + 1]);
                is_modelled = TRUE;
            }
        }
        if (!is_modelled)
            vb_fmt_attr(buf, order[i], extra_attr_lookup(extra, order[i]));
    }
    for (guint j = 0; modelled != NULL && modelled[j] != NULL; j += 2) {
        if (!in_table(order, modelled[j]))
            vb_fmt_attr(buf, modelled[j], modelled[j + 1]);
    }
    for (guint i = 0; extra->attrs != NULL && i + 1 < extra->attrs->len; i += 2) {
        const char *name = g_ptr_array_index(extra->attrs, i);
        if (!in_table(order, name))
            vb_fmt_attr(buf, name, g_ptr_array_index(extra->attrs, i + 1));
    }
}

typedef struct {
    int line;
    char *message;
} FirstError;

/* libxml2 reports several errors for one mistake; the first one names it */
static void
keep_first_error(void *data, xmlErrorPtr e)
{
    xmlParserCtxt *ctxt = data;
    FirstError *first = ctxt->_private;

    if (first->message != NULL || e == NULL || e->level < XML_ERR_ERROR)
        return;
    first->line = e->line;
    first->message = g_strstrip(g_strdup(e->message != NULL ? e->message : "unknown error"));
}

/**
 * vb_xml_read_memory:
 * @what: the document's name in the size error ("domain XML")
 * @malformed: its name in the parse error ("line N: malformed XML: ...")
 * @filename: the name libxml2 gives the document
 *
 * The hardening every XML the service reads gets: a size limit, no entity expansion (no
 * XML_PARSE_NOENT), no DTD loading, no network, libxml2's default nesting limit (no
 * XML_PARSE_HUGE), UTF-8 whatever the declaration says, checked; the first error with its
 * line. The callers check for DOCTYPE and namespaces themselves.
 *
 * Returns: (transfer full) (nullable): the document
 */
xmlDoc *
vb_xml_read_memory(const char *xml, gsize max_bytes, const char *what, const char *malformed,
                   const char *filename, GError **error)
{
    xmlParserCtxt *ctxt;
    xmlDoc *doc;
    size_t len = strlen(xml);
    FirstError first = { 0, NULL };
    xmlStructuredErrorFunc saved_handler;
    void *saved_data;

    if (len > max_bytes) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "%s is %zu bytes, more than the limit of %" G_GSIZE_FORMAT, what, len,
                    max_bytes);
        return NULL;
    }
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL, "cannot allocate XML parser");
        return NULL;
    }
    ctxt->_private = &first;
    ctxt->sax->serror = keep_first_error;
    /* a document is UTF-8 (a D-Bus string, or a file the service wrote): an encoding
     * declaration is not followed (XML_PARSE_IGNORE_ENC). libxml2 reports what goes wrong
     * below the parser (conversion, I/O) without its context, to the thread's handler
     * (stderr by default): collect that with the rest too */
    saved_handler = xmlStructuredError;
    saved_data = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(ctxt, keep_first_error);
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, filename, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR |
                                XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC);
    xmlSetStructuredErrorFunc(saved_data, saved_handler);
    if (doc == NULL || !ctxt->wellFormed || !ctxt->nsWellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);

        if (first.message == NULL) {
            first.line = e != NULL ? e->line : 0;
            first.message = g_strstrip(g_strdup(e != NULL && e->message ? e->message
                                                                        : "unknown error"));
        }
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML, "line %d: malformed %s: %s",
                    first.line, malformed, first.message);
        g_clear_pointer(&doc, xmlFreeDoc);
    }
    g_free(first.message);
    xmlFreeParserCtxt(ctxt);
    return doc;
}
