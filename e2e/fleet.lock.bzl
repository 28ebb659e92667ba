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
        "02c733a17f71ab94a1537bfc": [
            "django-cors-headers==4.9.0",
            "social-auth-core==7.0.0",
        ],
        "0a0f779916b6ed10f6c1e133": [
            "aiohappyeyeballs==2.7.1",
            "tzdata==2026.6",
        ],
        "1eb6f66aaa8eb6baf3ecd87b": [
            "django-simple-history==3.13.0",
            "drf-spectacular==0.30.0",
            "google-crc32c==1.9.0",
            "sqlparse==0.6.1",
        ],
        "2c506bb1f128a0cc9cf0cb04": [
            "channels==4.3.2",
            "django-phonenumber-field==9.0.0",
            "google-resumable-media==2.11.0",
            "s3transfer==0.19.3",
        ],
        "329a4223eb99b0e6e952759b": [
            "daphne==4.2.3",
            "django-filter==26.2",
            "django-redis==7.0.0",
            "et-xmlfile==2.0.0",
            "openpyxl==3.1.5",
            "python3-openid==3.2.0",
        ],
        "555a9e9a33e02d5723328792": [
            "asgiref==3.13.0",
            "jsonschema==4.26.0",
            "pycparser==3.12",
            "social-auth-app-django==8.0.0",
        ],
        "6a1b2fc6887c387f6c7fedee": [
            "anyio==4.16.0",
            "django-ses==4.8.2",
            "jsonschema-specifications==2025.9.1",
            "tinyhtml5==2.1.0",
            "webencodings==0.6.1",
        ],
        "6dff1ea5080ad49a2411db0a": [
            "amqp==5.4.2",
            "click-didyoumean==0.3.1",
            "kombu==5.7.0",
            "typing-extensions==4.16.0",
            "vine==5.1.0",
        ],
        "77cd1c51b23556a3bdb8ea66": [
            "aiosignal==1.4.0",
            "constantly==23.10.4",
            "googleapis-common-protos==1.76.0",
            "gunicorn==27.0.1",
            "tinycss2==1.5.1",
        ],
        "881c9bbae0022e960419c357": [
            "certifi==2026.10.19.post1",
            "charset-normalizer==3.5.3",
            "idna==3.20",
            "requests==2.34.2",
            "urllib3==2.8.0",
        ],
        "8d1786923b80c9b979bbd07e": [
            "boto3==1.44.8",
            "frozenlist==1.8.0",
            "proto-plus==1.29.0",
            "python-crontab==3.4.0",
        ],
        "9f00d66e727b12d50fd750ff": [
            "cssselect2==0.10.1",
            "google-auth==2.63.0",
        ],
        "acfe008575c46620a5897b65": [
            "cffi==2.1.1",
            "defusedxml==0.7.1",
            "elastic-transport==9.4.2",
            "service-identity==26.1.0",
        ],
        "b697f540fab37276198f0ac3": [
            "diff-match-patch==20241021",
            "django-storages==1.14.6",
            "djangorestframework-simplejwt==5.5.1",
            "pyasn1==0.6.5",
        ],
        "c7124edeec37e4dd44b68ba8": [
            "django-celery-results==2.6.0",
            "inflection==0.5.1",
            "oauthlib==4.0.1",
            "opentelemetry-api==1.45.2",
            "requests-oauthlib==2.0.0",
        ],
        "d15552bd3cf5d1a1a8e656c7": [
            "django-celery-beat==2.9.0",
            "hyperlink==21.0.0",
            "incremental==24.11.0",
            "yarl==1.25.1",
        ],
        "d7130284a640d354637c0d08": [
            "django-environ==0.14.0",
            "django-timezone-field==7.2.2",
            "propcache==0.5.4",
            "pyjwt==2.15.1",
        ],
        "d724b83e81ab38e3000c5238": [
            "attrs==26.1.0",
            "automat==25.4.16",
            "packaging==26.3",
            "pydyf==0.13.0",
            "txaio==26.6.1",
        ],
        "d7d775d4d4cc067898cf4b3a": [
            "aiohttp-retry==2.9.1",
            "django-extensions==4.1",
            "referencing==0.37.0",
            "whitenoise==6.12.0",
        ],
        "dd3d3fbadb3ff91431d68867": [
            "billiard==4.3.2",
            "click-plugins==1.1.1.2",
            "click-repl==0.4.1",
            "click==8.5.1",
            "python-dateutil==2.9.0.post0",
            "tzlocal==5.4.5",
        ],
        "df56105097bed02229db5815": [
            "jmespath==1.1.0",
            "pyasn1-modules==0.4.2",
            "ujson==6.1.0",
            "uritemplate==4.2.0",
        ],
        "f288922f0bd6607962389737": [
            "channels-redis==4.3.0",
            "cron-descriptor==1.4.5",
            "google-api-core==2.44.0",
            "sniffio==1.3.1",
        ],
        "f9a523a972e7cd684aab1e45": [
            "django-import-export==4.4.3",
            "google-cloud-core==2.8.0",
            "pyopenssl==26.4.0",
            "tablib==3.10.0",
        ],
    },
    "images": {
        "//apps/api:image": [
            "881c9bbae0022e960419c357",
        ],
        "//apps/web:image": [
            "881c9bbae0022e960419c357",
            "6dff1ea5080ad49a2411db0a",
            "dd3d3fbadb3ff91431d68867",
            "77cd1c51b23556a3bdb8ea66",
            "329a4223eb99b0e6e952759b",
            "8d1786923b80c9b979bbd07e",
            "9f00d66e727b12d50fd750ff",
            "d7d775d4d4cc067898cf4b3a",
            "df56105097bed02229db5815",
            "0a0f779916b6ed10f6c1e133",
            "d7130284a640d354637c0d08",
            "acfe008575c46620a5897b65",
            "d724b83e81ab38e3000c5238",
            "02c733a17f71ab94a1537bfc",
            "6a1b2fc6887c387f6c7fedee",
            "f288922f0bd6607962389737",
            "c7124edeec37e4dd44b68ba8",
            "d15552bd3cf5d1a1a8e656c7",
            "b697f540fab37276198f0ac3",
            "1eb6f66aaa8eb6baf3ecd87b",
            "2c506bb1f128a0cc9cf0cb04",
            "555a9e9a33e02d5723328792",
            "f9a523a972e7cd684aab1e45",
        ],
        "//apps/worker:image": [
            "6dff1ea5080ad49a2411db0a",
            "dd3d3fbadb3ff91431d68867",
        ],
    },
}
