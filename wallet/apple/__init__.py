"""Apple Wallet: the signed .pkpass, the PassKit web service's update tags and APNs pushes."""

from wallet.apple.pkpass import PKPASS_CONTENT_TYPE, build_pkpass, pass_json
from wallet.apple.push import push_card_passes

__all__ = ["PKPASS_CONTENT_TYPE", "build_pkpass", "pass_json", "push_card_passes"]
