/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the save image header (service/domain/domain-save-image.c, issue
 * 14): Restore reads a file a caller names, which may be anything. The input is the file
 * (in a memfd); a refusal must come with an error; an accepted header must leave the
 * descriptor where it says the stream starts, and its XML, written again with
 * vb_save_image_write_header(), must read back the same (flags, compression, text). The
 * XML is then parsed as Restore does; an accepted definition formats. Crashes, leaks,
 * sanitizer reports, GLib warnings and criticals (fuzz-log.h) abort.
 */
#define _GNU_SOURCE /* memfd_create */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "domain-def.h"
#include "domain-save-image.h"
#include "fuzz-log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    xmlInitParser();
    vb_fuzz_log_install();
    return 0;
}

static void
check(gboolean ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "check failed: %s\n", what);
        abort();
    }
}

static int
memfd_with(const void *data, size_t size)
{
    int fd = memfd_create("fuzz-save-image", MFD_CLOEXEC);

    check(fd >= 0, "memfd_create");
    check(size == 0 || write(fd, data, size) == (ssize_t)size, "write to the memfd");
    check(lseek(fd, 0, SEEK_SET) == 0, "lseek");
    return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VbSaveImageHeader h = { 0 };
    VbSaveImageHeader h2 = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    int fd = memfd_with(data, size);
    int fd2;

    if (!vb_save_image_read_header(fd, "fuzz.img", &h, &error)) {
        check(error != NULL && error->message != NULL, "a refusal comes with an error");
        vb_save_image_header_clear(&h);
        close(fd);
        return 0;
    }
    check(h.xml != NULL, "an accepted header has its XML");
    check(lseek(fd, 0, SEEK_CUR) == h.data_offset, "the fd is where the stream starts");
    check(h.data_offset > VB_SAVE_IMAGE_HEADER_SIZE && (size_t)h.data_offset <= size,
          "the stream starts after the XML, within the file");
    close(fd);

    /* written again and read back: the same */
    fd2 = memfd_create("fuzz-save-image-2", MFD_CLOEXEC);
    check(fd2 >= 0, "memfd_create");
    check(vb_save_image_write_header(fd2, h.xml, h.flags,
                                     h.compression == VB_SAVE_COMPRESSION_ZSTD, NULL),
          "the header is written again");
    check(lseek(fd2, 0, SEEK_SET) == 0, "lseek");
    check(vb_save_image_read_header(fd2, "fuzz2.img", &h2, NULL), "and reads back");
    check(strcmp(h.xml, h2.xml) == 0 && h.flags == h2.flags &&
              h.compression == h2.compression && h2.data_offset % 4096 == 0,
          "the same header, the XML padded to 4 KiB");
    close(fd2);
    vb_save_image_header_clear(&h2);

    /* as Restore reads it (vb_domain_parse_config()): inactive, then the addresses fixed */
    def = vb_domain_def_parse_string(h.xml, VB_DOMAIN_DEF_PARSE_INACTIVE, &error);
    if (def != NULL && !vb_domain_def_assign_addresses(def, &error))
        g_clear_pointer(&def, vb_domain_def_free);
    if (def == NULL) {
        check(error != NULL, "a refused definition comes with an error");
    } else {
        g_autofree char *out = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, NULL);

        check(out != NULL, "an accepted definition formats");
    }
    vb_save_image_header_clear(&h);
    return 0;
}
