"""Unit-test mocks: each resource echoes its inputs plus the outputs its provider computes."""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi

FAKE_TOKEN = "t0ken-for-unit-tests-only"


class ProviderEchoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = FAKE_TOKEN
        if args.typ == "docker:index/image:Image":
            digest = "sha256:" + hashlib.sha256(args.inputs["imageName"].encode()).hexdigest()
            # A pushed image's is the registry's digest of the repository; else the local image ID.
            pushed = not args.inputs.get("skipPush")
            outputs["repoDigest"] = f"{args.inputs['imageName'].rsplit(':', 1)[0]}@{digest}" if pushed else digest
        if args.typ == "docker:index/remoteImage:RemoteImage":
            digest = "sha256:" + hashlib.sha256(args.inputs["name"].encode()).hexdigest()
            outputs["imageId"] = digest
            outputs["repoDigest"] = f"{args.inputs['name'].rsplit(':', 1)[0]}@{digest}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None
