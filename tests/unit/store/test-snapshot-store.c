/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A domain's snapshots on disk (issue 15, part snapxml): one file per snapshot under
 * <root>/<uuid>/, written atomically and read back into the same tree and current
 * snapshot; leftovers of interrupted writes removed, corrupt or misplaced files skipped
 * (not fatal); a write that crashes halfway leaves the old state; removal with children
 * moved up or removed; topological order; the refusals (unknown parent, cycles, another
 * domain's snapshot).
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot-store.h"
#include "store.h"
#include "vb-error.h"

#define UUID "c7a5fdbd-edaf-9455-926a-d65c16db1809"

static GPtrArray *logged; /* warnings seen, as text */

static GLogWriterOutput
capture_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer user_data)
{
    for (gsize i = 0; i < n; i++) {
        if (level & G_LOG_LEVEL_WARNING && g_str_equal(fields[i].key, "MESSAGE"))
            g_ptr_array_add(logged, g_strdup(fields[i].value));
    }
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return g_log_writer_default(level, fields, n, user_data);
    return G_LOG_WRITER_HANDLED;
}

static void
assert_logged(const char *pattern)
{
    for (guint i = 0; i < logged->len; i++) {
        if (g_pattern_match_simple(pattern, logged->pdata[i]))
            return;
    }
    g_error("no warning matching '%s' (%u logged)", pattern, logged->len);
}

typedef struct {
    char *root;
    char *dir;
} Fixture;

static void
rm_rf(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(path, name, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            rm_rf(p);
        else
            g_unlink(p);
    }
    g_rmdir(path);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->root = g_dir_make_tmp("vb-snapstore-XXXXXX", NULL);
    g_assert_nonnull(f->root);
    f->dir = g_build_filename(f->root, UUID, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    rm_rf(f->root);
    g_free(f->root);
    g_free(f->dir);
}

static VbSnapshotDef *
make(const char *name, const char *parent, gint64 ctime)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = g_strdup_printf(
        "<domainsnapshot><name>%s</name>%s%s%s<state>shutoff</state>"
        "<creationTime>%" G_GINT64_FORMAT "</creationTime>"
        "<domain><uuid>" UUID "</uuid></domain></domainsnapshot>",
        name, parent ? "<parent><name>" : "", parent ? parent : "",
        parent ? "</name></parent>" : "", ctime);
    VbSnapshotDef *def = vb_snapshot_def_parse_string(xml, VB_SNAPSHOT_PARSE_REDEFINE, &error);

    g_assert_no_error(error);
    return def;
}

static VbSnapshotStore *
load(Fixture *f)
{
    g_autoptr(GError) error = NULL;
    VbSnapshotStore *store = vb_snapshot_store_load(f->root, UUID, &error);

    g_assert_no_error(error);
    g_assert_nonnull(store);
    return store;
}

static void
add_ok(VbSnapshotStore *store, VbSnapshotDef *def, gboolean current)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_snapshot_store_add(store, def, current, &error));
    g_assert_no_error(error);
}

static char *
joined(GPtrArray *names)
{
    g_autoptr(GPtrArray) arr = names;

    g_ptr_array_add(arr, NULL);
    return g_strjoinv(",", (char **)arr->pdata);
}

static char *
file_text(Fixture *f, const char *name)
{
    g_autofree char *path = g_strdup_printf("%s/%s.xml", f->dir, name);
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    return text;
}

/*   a(1) -> b(2) -> c(4)
 *        -> d(3)            e(5) a second root */
static void
build_tree(VbSnapshotStore *store)
{
    add_ok(store, make("a", NULL, 1), FALSE);
    add_ok(store, make("b", "a", 2), FALSE);
    add_ok(store, make("d", "a", 3), FALSE);
    add_ok(store, make("c", "b", 4), TRUE);
    add_ok(store, make("e", NULL, 5), FALSE);
}

static void
test_write_and_reload(Fixture *f, gconstpointer data)
{
    g_autoptr(VbSnapshotStore) store = load(f);
    g_autoptr(VbSnapshotStore) again = NULL;
    g_autofree char *order = NULL;
    g_autofree char *ca = NULL;
    g_autofree char *cc = NULL;
    g_autofree char *path = g_build_filename(f->dir, "c.xml", NULL);
    GStatBuf st;

    g_assert_cmpuint(vb_snapshot_store_count(store), ==, 0);
    g_assert_false(g_file_test(f->dir, G_FILE_TEST_EXISTS));
    build_tree(store);
    g_assert_cmpstr(vb_snapshot_store_get_current(store), ==, "c");

    /* one file per snapshot, private, <active> marks the current one only */
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_assert_cmpint(g_stat(f->dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);
    ca = file_text(f, "a");
    cc = file_text(f, "c");
    g_assert_nonnull(strstr(ca, "  <active>0</active>\n"));
    g_assert_nonnull(strstr(cc, "  <active>1</active>\n"));
    g_assert_nonnull(strstr(cc, "  <parent>\n    <name>b</name>\n  </parent>\n"));

    again = load(f);
    g_assert_cmpuint(vb_snapshot_store_count(again), ==, 5);
    g_assert_cmpstr(vb_snapshot_store_get_current(again), ==, "c");
    g_assert_cmpstr(vb_snapshot_store_lookup(again, "d")->parent_name, ==, "a");
    g_assert_cmpint(vb_snapshot_store_lookup(again, "d")->creation_time, ==, 3);
    g_assert_null(vb_snapshot_store_lookup(again, "zz"));
    order = joined(vb_snapshot_store_topological(again));
    g_assert_cmpstr(order, ==, "a,e,b,d,c");
    g_clear_pointer(&order, g_free);
    order = joined(vb_snapshot_store_list_children(again, "a"));
    g_assert_cmpstr(order, ==, "b,d");
    g_clear_pointer(&order, g_free);
    order = joined(vb_snapshot_store_list_children(again, NULL));
    g_assert_cmpstr(order, ==, "a,e");
    g_clear_pointer(&order, g_free);
    order = joined(vb_snapshot_store_list_descendants(again, "a"));
    g_assert_cmpstr(order, ==, "b,d,c");
    g_assert_null(vb_snapshot_store_get_skipped(again)[0]);
}

static void
test_current(Fixture *f, gconstpointer data)
{
    g_autoptr(VbSnapshotStore) store = load(f);
    g_autoptr(VbSnapshotStore) again = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *cc = NULL;

    build_tree(store);
    g_assert_true(vb_snapshot_store_set_current(store, "d", &error));
    g_assert_no_error(error);
    cc = file_text(f, "c");
    g_assert_nonnull(strstr(cc, "<active>0</active>"));
    again = load(f);
    g_assert_cmpstr(vb_snapshot_store_get_current(again), ==, "d");
    g_clear_pointer(&again, vb_snapshot_store_free);

    /* a redefinition of the current snapshot keeps it current */
    add_ok(store, make("d", "a", 33), FALSE);
    g_assert_cmpstr(vb_snapshot_store_get_current(store), ==, "d");
    g_assert_cmpint(vb_snapshot_store_lookup(store, "d")->creation_time, ==, 33);

    g_assert_true(vb_snapshot_store_set_current(store, NULL, &error));
    g_assert_null(vb_snapshot_store_get_current(store));
    again = load(f);
    g_assert_null(vb_snapshot_store_get_current(again));

    g_assert_false(vb_snapshot_store_set_current(store, "nope", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "'nope'"));
}

static void
test_remove(Fixture *f, gconstpointer data)
{
    g_autoptr(VbSnapshotStore) store = load(f);
    g_autoptr(VbSnapshotStore) again = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *order = NULL;
    g_autofree char *path = g_build_filename(f->dir, "b.xml", NULL);

    build_tree(store);
    /* b goes, c moves up to a (its file rewritten); c stays current */
    g_assert_true(vb_snapshot_store_remove(store, "b", 0, &error));
    g_assert_no_error(error);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    again = load(f);
    g_assert_cmpstr(vb_snapshot_store_lookup(again, "c")->parent_name, ==, "a");
    order = joined(vb_snapshot_store_topological(again));
    g_assert_cmpstr(order, ==, "a,e,d,c");
    g_clear_pointer(&again, vb_snapshot_store_free);
    g_clear_pointer(&order, g_free);

    /* removing the current snapshot makes its parent current */
    g_assert_true(vb_snapshot_store_remove(store, "c", 0, &error));
    g_assert_cmpstr(vb_snapshot_store_get_current(store), ==, "a");
    again = load(f);
    g_assert_cmpstr(vb_snapshot_store_get_current(again), ==, "a");
    g_clear_pointer(&again, vb_snapshot_store_free);

    /* a subtree */
    g_assert_true(vb_snapshot_store_remove(store, "a", VB_SNAPSHOT_REMOVE_CHILDREN, &error));
    g_assert_no_error(error);
    g_assert_null(vb_snapshot_store_get_current(store));
    again = load(f);
    order = joined(vb_snapshot_store_topological(again));
    g_assert_cmpstr(order, ==, "e");

    g_assert_false(vb_snapshot_store_remove(store, "a", 0, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);

    g_assert_true(vb_snapshot_store_remove_all(store, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(vb_snapshot_store_count(store), ==, 0);
    g_assert_false(g_file_test(f->dir, G_FILE_TEST_EXISTS));
}

static void
test_refusals(Fixture *f, gconstpointer data)
{
    g_autoptr(VbSnapshotStore) store = load(f);
    g_autoptr(GError) error = NULL;
    g_autoptr(VbSnapshotDef) other = NULL;
    g_autoptr(GError) uerr = NULL;

    build_tree(store);
    g_assert_false(vb_snapshot_store_add(store, make("x", "missing", 9), FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "parent 'missing'"));
    g_clear_error(&error);
    /* a redefinition of a under its own grandchild */
    g_assert_false(vb_snapshot_store_add(store, make("a", "c", 1), FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "descends"));
    g_clear_error(&error);
    g_assert_false(vb_snapshot_store_add(store, make("a", "a", 1), FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    other = vb_snapshot_def_parse_string(
        "<domainsnapshot><name>o</name><state>shutoff</state><creationTime>1</creationTime>"
        "<domain><uuid>00000000-1111-2222-3333-444444444444</uuid></domain></domainsnapshot>",
        VB_SNAPSHOT_PARSE_REDEFINE, &error);
    g_assert_no_error(error);
    g_assert_false(vb_snapshot_store_add(store, g_steal_pointer(&other), FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "another domain"));
    g_clear_error(&error);
    /* nothing of that was written */
    g_assert_cmpuint(vb_snapshot_store_count(store), ==, 5);
    g_assert_cmpstr(vb_snapshot_store_lookup(store, "a")->parent_name, ==, NULL);
    g_assert_null(file_text(f, "x"));
    g_assert_null(file_text(f, "o"));

    g_assert_null(vb_snapshot_store_load(f->root, "not-a-uuid", &uerr));
    g_assert_error(uerr, VB_ERROR, VB_ERROR_INVALID_ARG);
}

static void
write_file(Fixture *f, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(f->dir, name, NULL);

    g_assert_cmpint(g_mkdir_with_parents(f->dir, 0700), ==, 0);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

/* corrupt and misplaced files are skipped and reported, leftovers removed, the rest loads */
static void
test_bad_files(Fixture *f, gconstpointer data)
{
    g_autoptr(VbSnapshotStore) store = load(f);
    g_autoptr(VbSnapshotStore) again = NULL;
    g_autofree char *good = NULL;
    g_autofree char *leftover = g_build_filename(f->dir, ".b.xml.Ab12Cd", NULL);
    g_autofree char *order = NULL;
    const char *const *skipped;

    build_tree(store);
    good = file_text(f, "b");
    write_file(f, "garbage.xml", "<domainsnapshot><name>garbage</name");
    write_file(f, "nostate.xml", "<domainsnapshot><name>nostate</name></domainsnapshot>");
    write_file(f, "renamed.xml", good); /* holds snapshot b */
    write_file(f, ".b.xml.Ab12Cd", "<domainsnapshot>half");
    write_file(f, "notes.txt", "not a snapshot");

    g_ptr_array_set_size(logged, 0);
    again = load(f);
    assert_logged("skipping*garbage.xml*malformed XML*");
    assert_logged("skipping*nostate.xml*missing <creationTime>*");
    assert_logged("skipping*renamed.xml*holds snapshot 'b', not 'renamed'");
    g_assert_cmpuint(vb_snapshot_store_count(again), ==, 5);
    skipped = vb_snapshot_store_get_skipped(again);
    g_assert_cmpuint(g_strv_length((char **)skipped), ==, 3);
    g_assert_true(g_str_has_suffix(skipped[0], "/garbage.xml"));
    g_assert_false(g_file_test(leftover, G_FILE_TEST_EXISTS));
    order = joined(vb_snapshot_store_topological(again));
    g_assert_cmpstr(order, ==, "a,e,b,d,c");
}

static char *
replace_once(const char *text, const char *from, const char *to)
{
    GString *s = g_string_new(text);

    g_assert_cmpuint(g_string_replace(s, from, to, 1), ==, 1);
    return g_string_free(s, FALSE);
}

/* hand-edited files: a missing parent and a cycle become roots, with a warning */
static void
test_broken_tree(Fixture *f, gconstpointer data)
{
    g_autoptr(VbSnapshotStore) store = load(f);
    g_autoptr(VbSnapshotStore) again = NULL;
    g_autofree char *order = NULL;
    g_autofree char *text = NULL;
    g_autofree char *edited = NULL;

    add_ok(store, make("p", NULL, 1), FALSE);
    add_ok(store, make("q", "p", 2), FALSE);
    add_ok(store, make("orphan", "p", 3), FALSE);
    /* p's parent becomes q (a cycle), orphan's parent disappears */
    text = file_text(f, "p");
    edited = replace_once(text, "<state>", "<parent>\n    <name>q</name>\n  </parent>\n  <state>");
    write_file(f, "p.xml", edited);
    g_clear_pointer(&text, g_free);
    g_clear_pointer(&edited, g_free);
    text = file_text(f, "orphan");
    edited = replace_once(text, "<name>p</name>", "<name>gone</name>");
    write_file(f, "orphan.xml", edited);
    g_ptr_array_set_size(logged, 0);
    again = load(f);
    assert_logged("*orphan*'gone' not found*");
    assert_logged("*parents form a cycle*");
    order = joined(vb_snapshot_store_topological(again));
    g_assert_cmpuint(strlen(order), ==, strlen("orphan,p,q"));
    g_assert_nonnull(strstr(order, "orphan"));
}

/* libvirt's own metadata files (its snapshot directory holds <name>.xml with <active>)
 * load as they are: here two of its test files, the current one's parent not among them */
static void
test_libvirt_files(Fixture *f, gconstpointer data)
{
    g_autofree char *src = g_build_filename(g_getenv("VB_TEST_DATA"), "snapshot",
                                            "full_domain.xml", NULL);
    g_autofree char *src2 = g_build_filename(g_getenv("VB_TEST_DATA"), "snapshot",
                                             "all_parameters.xml", NULL);
    g_autofree char *text = NULL;
    g_autofree char *text2 = NULL;
    g_autofree char *edited = NULL;
    g_autofree char *back = NULL;
    g_autoptr(VbSnapshotStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *order = NULL;

    g_assert_true(g_file_get_contents(src, &text, NULL, NULL));
    g_assert_true(g_file_get_contents(src2, &text2, NULL, NULL));
    write_file(f, "my snap name.xml", text);
    /* all_parameters.xml, renamed to be earlier_snap's parent, not current, our UUID */
    edited = replace_once(text2, "<name>my snap name</name>", "<name>first</name>");
    g_free(text2);
    text2 = replace_once(edited, "<active>1</active>", "<active>0</active>");
    g_free(edited);
    edited = replace_once(text2, "9d37b878-a7cc-9f9a-b78f-49b3abad25a8", UUID);
    write_file(f, "first.xml", edited);

    g_ptr_array_set_size(logged, 0);
    store = load(f);
    assert_logged("*'my snap name'*parent 'earlier_snap' not found*");
    g_assert_cmpuint(vb_snapshot_store_count(store), ==, 2);
    g_assert_cmpstr(vb_snapshot_store_get_current(store), ==, "my snap name");
    g_assert_cmpstr(vb_snapshot_store_lookup(store, "my snap name")->dom->name, ==,
                    "QEMUGuest1");
    g_assert_null(vb_snapshot_store_get_skipped(store)[0]);

    /* redefined under "first": written back as libvirt wrote it, but for that name */
    g_clear_pointer(&edited, g_free);
    edited = replace_once(text, "<name>earlier_snap</name>", "<name>first</name>");
    add_ok(store, vb_snapshot_def_parse_string(edited, VB_SNAPSHOT_PARSE_INTERNAL, &error),
           FALSE);
    g_assert_no_error(error);
    back = file_text(f, "my snap name");
    g_assert_cmpstr(back, ==, edited);
    g_assert_cmpstr(vb_snapshot_store_get_current(store), ==, "my snap name");
    /* its parent removed, it becomes a root: libvirt's file without <parent> */
    g_assert_true(vb_snapshot_store_remove(store, "first", 0, &error));
    g_assert_no_error(error);
    g_clear_pointer(&back, g_free);
    g_clear_pointer(&edited, g_free);
    back = file_text(f, "my snap name");
    edited = replace_once(text, "  <parent>\n    <name>earlier_snap</name>\n  </parent>\n", "");
    g_assert_cmpstr(back, ==, edited);
    order = joined(vb_snapshot_store_topological(store));
    g_assert_cmpstr(order, ==, "my snap name");
}

/* a write that dies after its temporary file leaves the old file and a leftover that the
 * next load removes */
static void
test_crash_mid_write(Fixture *f, gconstpointer data)
{
    g_autoptr(VbSnapshotStore) store = load(f);
    g_autoptr(VbSnapshotStore) again = NULL;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    int status = 0;
    pid_t pid;
    guint hidden = 0;
    const char *name;
    GDir *d;

    build_tree(store);
    before = file_text(f, "d");
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        vb_store_test_set_crash_point(VB_STORE_CRASH_AFTER_WRITE);
        vb_snapshot_store_add(store, make("d", "a", 99), FALSE, NULL);
        _exit(0);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 99);
    d = g_dir_open(f->dir, 0, NULL);
    while ((name = g_dir_read_name(d)) != NULL)
        hidden += name[0] == '.';
    g_dir_close(d);
    g_assert_cmpuint(hidden, ==, 1);
    after = file_text(f, "d");
    g_assert_cmpstr(after, ==, before);

    again = load(f);
    g_assert_cmpint(vb_snapshot_store_lookup(again, "d")->creation_time, ==, 3);
    d = g_dir_open(f->dir, 0, NULL);
    hidden = 0;
    while ((name = g_dir_read_name(d)) != NULL)
        hidden += name[0] == '.';
    g_dir_close(d);
    g_assert_cmpuint(hidden, ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    logged = g_ptr_array_new_with_free_func(g_free);
    g_log_set_writer_func(capture_writer, NULL, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/snapshot-store/write-and-reload", test_write_and_reload);
    ADD("/snapshot-store/current", test_current);
    ADD("/snapshot-store/remove", test_remove);
    ADD("/snapshot-store/refusals", test_refusals);
    ADD("/snapshot-store/bad-files", test_bad_files);
    ADD("/snapshot-store/broken-tree", test_broken_tree);
    ADD("/snapshot-store/crash-mid-write", test_crash_mid_write);
    ADD("/snapshot-store/libvirt-files", test_libvirt_files);
    return g_test_run();
}
