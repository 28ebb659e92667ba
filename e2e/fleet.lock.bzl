"""The shared layers of the fleet lock fleet.lock.json, as Bazel reads them when it loads
the BUILD file: each layer of several packages (by a hash of its members'
ids and digests) and the images that hold it.

Written with the lock by `bazel run //:fleet.update`; do not edit. Load it in
the fleet's BUILD file and pass it on:

    load(":fleet.lock.bzl", "SHARED_LAYERS")
    py_image_fleet(..., shared_layers = SHARED_LAYERS)
"""

SHARED_LAYERS = {
    "groups": {
        "01fe29c278fb2cd4bfd7b2ba": [
            "incremental==24.11.0",
            "inflection==0.5.1",
            "jmespath==1.1.0",
            "jsonschema-specifications==2025.9.1",
            "jsonschema==4.26.0",
            "oauthlib==4.0.1",
        ],
        "0a77ff33c5d1c596ad95953a": [
            "django-cors-headers==4.9.0",
            "django-environ==0.14.0",
            "django-extensions==4.1",
            "django-filter==26.2",
        ],
        "0e9a45632ef07b7a58e0a8c8": [
            "referencing==0.37.0",
            "requests-oauthlib==2.0.0",
            "s3transfer==0.19.3",
            "service-identity==26.1.0",
            "sniffio==1.3.1",
            "social-auth-app-django==8.0.0",
            "social-auth-core==7.0.0",
        ],
        "126ae0a02f8a323bb5b021cc": [
            "django-simple-history==3.13.0",
            "django-storages==1.14.6",
            "django-timezone-field==7.2.2",
            "djangorestframework-simplejwt==5.5.1",
            "drf-spectacular==0.30.0",
        ],
        "326ce052ef06e550a1900822": [
            "gunicorn==27.0.1",
            "hyperlink==21.0.0",
        ],
        "391821b464c8d921b64ce53c": [
            "google-cloud-core==2.8.0",
            "google-crc32c==1.9.0",
            "google-resumable-media==2.11.0",
            "googleapis-common-protos==1.76.0",
        ],
        "4899d30959fbbd21f05e6868": [
            "proto-plus==1.29.0",
            "pyasn1-modules==0.4.2",
            "pyasn1==0.6.5",
        ],
        "709d93adfb4c50bac8477c55": [
            "elastic-transport==9.4.2",
            "et-xmlfile==2.0.0",
            "frozenlist==1.8.0",
        ],
        "7307b46df3716ec63084eee3": [
            "certifi==2026.10.19.post1",
            "charset-normalizer==3.5.3",
            "idna==3.20",
            "requests==2.34.2",
            "urllib3==2.8.0",
        ],
        "84150f079ebf17e1280d9bc9": [
            "django-import-export==4.4.3",
            "django-phonenumber-field==9.0.0",
            "django-redis==7.0.0",
            "django-ses==4.8.2",
        ],
        "a5e8e80f30e979953dcc98a2": [
            "automat==25.4.16",
            "cffi==2.1.1",
            "channels-redis==4.3.0",
            "channels==4.3.2",
        ],
        "a7ead39ffd54fe11d1c2c67a": [
            "pycparser==3.12",
            "pydyf==0.13.0",
            "pyjwt==2.15.1",
            "pyopenssl==26.4.0",
            "python-crontab==3.4.0",
            "python3-openid==3.2.0",
        ],
        "b0be32730dbdf26870251294": [
            "kombu==5.7.0",
            "python-dateutil==2.9.0.post0",
            "typing-extensions==4.16.0",
            "tzlocal==5.4.5",
            "vine==5.1.0",
        ],
        "bea39a06afb5edaa8c12c38d": [
            "packaging==26.3",
            "propcache==0.5.4",
        ],
        "c8f663581266bbf0052ef891": [
            "aiohappyeyeballs==2.7.1",
            "aiohttp-retry==2.9.1",
            "aiosignal==1.4.0",
            "anyio==4.16.0",
            "asgiref==3.13.0",
            "attrs==26.1.0",
        ],
        "ce633b9548c82befd14e71bb": [
            "openpyxl==3.1.5",
            "opentelemetry-api==1.45.2",
        ],
        "d166e8087d1e9c804f4dfe1d": [
            "constantly==23.10.4",
            "cron-descriptor==1.4.5",
            "cssselect2==0.10.1",
            "daphne==4.2.3",
            "defusedxml==0.7.1",
            "diff-match-patch==20241021",
            "django-celery-beat==2.9.0",
            "django-celery-results==2.6.0",
        ],
        "d680feb259f2cd56e4beb9a7": [
            "amqp==5.4.2",
            "billiard==4.3.2",
            "click-didyoumean==0.3.1",
            "click-plugins==1.1.1.2",
            "click-repl==0.4.1",
            "click==8.5.1",
        ],
        "f2315b681d22e49c62489955": [
            "sqlparse==0.6.1",
            "tablib==3.10.0",
            "tinycss2==1.5.1",
            "tinyhtml5==2.1.0",
            "txaio==26.6.1",
            "tzdata==2026.6",
            "ujson==6.1.0",
            "uritemplate==4.2.0",
            "webencodings==0.6.1",
            "whitenoise==6.12.0",
            "yarl==1.25.1",
        ],
        "fbcf54751c9bc244709bc01e": [
            "google-api-core==2.44.0",
            "google-auth==2.63.0",
        ],
    },
    "images": {
        "//apps/api:image": [
            "7307b46df3716ec63084eee3",
        ],
        "//apps/web:image": [
            "7307b46df3716ec63084eee3",
            "b0be32730dbdf26870251294",
            "d680feb259f2cd56e4beb9a7",
            "f2315b681d22e49c62489955",
            "0e9a45632ef07b7a58e0a8c8",
            "fbcf54751c9bc244709bc01e",
            "391821b464c8d921b64ce53c",
            "4899d30959fbbd21f05e6868",
            "01fe29c278fb2cd4bfd7b2ba",
            "bea39a06afb5edaa8c12c38d",
            "a7ead39ffd54fe11d1c2c67a",
            "126ae0a02f8a323bb5b021cc",
            "0a77ff33c5d1c596ad95953a",
            "ce633b9548c82befd14e71bb",
            "326ce052ef06e550a1900822",
            "d166e8087d1e9c804f4dfe1d",
            "a5e8e80f30e979953dcc98a2",
            "709d93adfb4c50bac8477c55",
            "84150f079ebf17e1280d9bc9",
            "c8f663581266bbf0052ef891",
        ],
        "//apps/worker:image": [
            "b0be32730dbdf26870251294",
            "d680feb259f2cd56e4beb9a7",
        ],
    },
}
