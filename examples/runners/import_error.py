"""A demo runner that fails the way a real one does when a native library is missing.

Its stderr also carries what redaction must remove before upload: a home path,
a Hugging Face token, an e-mail address and an IP address. All values are made up.
"""
import sys

HOME_MODEL = "/home/alice/.cache/huggingface/hub/models--mlx-community--Llama-3.2-1B"

print(f"loading model from {HOME_MODEL}", file=sys.stderr)
print("using token hf_DemoTokenNotRealAbCdEfGhIjKlMnOpQrStUv for the hub", file=sys.stderr)
print("contact alice@example.com if this fails; peer 192.0.2.17:52415", file=sys.stderr)
sys.stderr.flush()


def load_backend():
    import libmlx_demo_backend  # noqa: F401  (this module does not exist, on purpose)


def main():
    load_backend()


if __name__ == "__main__":
    main()
