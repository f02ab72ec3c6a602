"""`python teepipe.py LOG CMD ARGS...`: runs CMD with its stdin and stdout passed through unchanged
and copied, byte for byte, into LOG (both directions in arrival order). Tests put it between a
real protocol client and the binary to check every message on the wire (e.g. that no key appears
in any MCP message), without a client-side hook that could miss some."""

from __future__ import annotations

import subprocess
import sys
import threading


def main() -> int:
    log = open(sys.argv[1], "ab", buffering=0)
    lock = threading.Lock()
    child = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def pump(src, dst) -> None:
        try:
            while chunk := src.read1(65536):
                with lock:
                    log.write(chunk)
                dst.write(chunk)
                dst.flush()
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                dst.close()
            except OSError:
                pass

    up = threading.Thread(target=pump, args=(sys.stdin.buffer, child.stdin), daemon=True)
    down = threading.Thread(target=pump, args=(child.stdout, sys.stdout.buffer), daemon=True)
    up.start()
    down.start()
    code = child.wait()
    down.join(timeout=5)
    return code


if __name__ == "__main__":
    sys.exit(main())
