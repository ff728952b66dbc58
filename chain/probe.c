/* vmsnapfs: read a volume chain by running qemu-img. */
#include <errno.h>
#include <string.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

/* qemu-img info is quick; a minute means the storage hangs. */
#define PROBE_TIMEOUT_MS 60000

int
chain_probe (const char *path, const char *format, bool whole,
             struct chain **out)
{
  CLEANUP_FREE char *json = NULL;
  size_t len;
  int r;

  *out = NULL;
  /* An absolute path can be neither an option nor a qemu protocol name
   * ("nbd:", "json:"), and the format is always given: nothing is probed. */
  if (path == NULL || path[0] != '/' || format == NULL || format[0] == '\0'
      || format[0] == '-')
    {
      log_error ("Refusing to read the chain of '%s' (format '%s'): the path "
                 "must be absolute and the format given.",
                 path ? path : "", format ? format : "");
      return -EINVAL;
    }

  /* The headers read here, with no process, when nothing in them needs
   * qemu. */
  if (chain_read_headers (path, format, whole, out) == 0)
    return 0;

  const char *argv[] = { "qemu-img", "info", "--output=json", "-U",
                         "-f", format, path,
                         whole ? "--backing-chain" : NULL, NULL };
  r = run_capture (argv, CHAIN_MAX_JSON, PROBE_TIMEOUT_MS, &json, &len, NULL);
  if (r < 0)
    return r;

  r = whole ? chain_parse (json, len, out)
            : chain_parse_image (json, len, out);
  if (r < 0)
    log_error ("The backing chain of '%s' is not valid: %s.", path,
               strerror (-r));
  return r;
}
