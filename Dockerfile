# deepdream-bot production images (see docs/production.md).
#
#   docker build --target gpu -t deepdream-bot:gpu .   # default target: NVIDIA GPU, native TensorFlow (CUDA)
#   docker build --target cpu -t deepdream-bot:cpu .   # any x86-64 or arm64 host, ONNX Runtime on the CPU
#
# Both images run the TypeScript sources with tsx (a regular dependency; there is no build step), without
# dev dependencies, as the non-root user `dream` (uid 10001), with tini as PID 1.
#
# Process: CMD is `node --import tsx/esm src/bin/bot.ts`, not `npm start`. `npm start` would put npm and a
# shell between the container and the bot; `node --import tsx/esm` is a single process, so
# `docker stop`'s SIGTERM reaches the bot's own handler (stop taking jobs, finish the running dream
# within SHUTDOWN_GRACE_MS, exit 0). tini forwards signals to it and reaps zombies; node itself as PID 1
# would ignore SIGTERM until the bot has installed its handler.

# Node.js 24 LTS for every stage: the CPU image is based on it, the GPU image copies its node and npm.
FROM node:24-bookworm-slim AS node24

# The application files, shared by both images (.dockerignore keeps out node_modules, models/.cache, .env).
FROM scratch AS app
COPY package.json tsconfig.json /app/
COPY models /app/models
COPY commands /app/commands
COPY src /app/src

# ---- CPU image ----------------------------------------------------------------------------------------

FROM node24 AS cpu-deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts stops @tensorflow/tfjs-node-gpu's install script from downloading the CUDA build of
# libtensorflow, which this image never uses. (Not --omit=optional: sharp's and esbuild's native
# binaries are optional dependencies too, and without them sharp and tsx cannot load.) No runtime
# dependency needs its install script: esbuild's only verifies its binary, core-js's prints a banner.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && node -e "const fs=require('fs'),p='node_modules/onnxruntime-node/bin/napi-v6';for(const os of fs.readdirSync(p))for(const a of fs.readdirSync(p+'/'+os))if(os!=='linux'||a!==(process.arch==='arm64'?'arm64':'x64'))fs.rmSync(p+'/'+os+'/'+a,{recursive:true})"

FROM node24 AS cpu
# fonts-dejavu-core and fontconfig-config: the captions and legend of Explain pictures (sharp draws text with them);
# fonts-ipafont-gothic: the same in Japanese (3.5 MB).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini fonts-dejavu-core fonts-ipafont-gothic fontconfig-config \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 dream \
    && useradd --uid 10001 --gid dream --create-home --shell /usr/sbin/nologin dream \
    && mkdir -p /var/cache/deepdream/models /var/lib/deepdream/styles /var/lib/deepdream/data \
    && chown dream:dream /var/cache/deepdream/models /var/lib/deepdream/styles /var/lib/deepdream/data
WORKDIR /app
COPY --from=cpu-deps /app/node_modules ./node_modules
COPY --from=app /app ./
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    DREAM_BACKEND=onnx \
    DREAM_MODEL_CACHE=/var/cache/deepdream/models \
    DREAM_STYLES_DIR=/var/lib/deepdream/styles \
    DATABASE_URL=sqlite:/var/lib/deepdream/data/deepdream.sqlite \
    HEALTH_PORT=8080
VOLUME ["/var/cache/deepdream/models", "/var/lib/deepdream/styles", "/var/lib/deepdream/data"]
EXPOSE 8080
USER dream
# 200 from /healthz once the bot is connected and its workers are up; 503 (unhealthy) otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.HEALTH_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx/esm", "src/bin/bot.ts"]

# ---- GPU image (default target: last stage) -------------------------------------------------------------

# tfjs-node-gpu 4.22 loads libtensorflow 2.9.1, built for CUDA 11.2 / cuDNN 8.1. CUDA 11.8 with cuDNN 8.x
# (>= 8.6) runs it (same library sonames) and also knows Hopper (sm_90), for which TF 2.9 has no
# kernels: the driver JIT-compiles its PTX on first use, into CUDA_CACHE_PATH (a volume, see below).
FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04 AS gpu-base
ARG DEBIAN_FRONTEND=noninteractive
# Node.js: copied from the official node image above rather than installed from an apt repository.
# It is the same binary as in the CPU image, pinned by the same tag, with no extra apt source, signing key
# or curl | bash. Node's Linux builds need glibc >= 2.28; Ubuntu 22.04 has 2.35.
COPY --from=node24 /usr/local/bin/node /usr/local/bin/node
COPY --from=node24 /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && apt-get update \
    && apt-get install -y --no-install-recommends tini fonts-dejavu-core fonts-ipafont-gothic fontconfig-config \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 dream \
    && useradd --uid 10001 --gid dream --create-home --shell /usr/sbin/nologin dream \
    && mkdir -p /var/cache/deepdream/models /var/lib/deepdream/styles /var/cache/cuda /var/lib/deepdream/data \
    && chown dream:dream /var/cache/deepdream/models /var/lib/deepdream/styles /var/cache/cuda /var/lib/deepdream/data

FROM gpu-base AS gpu-deps
ARG DEBIAN_FRONTEND=noninteractive
# Only used if tfjs-node-gpu's prebuilt addon cannot be downloaded: node-pre-gyp then compiles it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Node 24 bundles npm 11, which follows package.json's "allowScripts": @tensorflow/tfjs-node-gpu's install script
# runs and downloads libtensorflow 2.9.1 (GPU) and its prebuilt addon from storage.googleapis.com (this step needs
# internet; HTTPS_PROXY is honoured); onnxruntime-node's (CUDA/TensorRT downloads) is denied: its CPU binding
# ships in the package. --foreground-scripts shows the output in the log. ONNX Runtime binaries for other
# platforms are dropped (the package carries all of them, 288 MB).
RUN npm ci --omit=dev --foreground-scripts --no-audit --no-fund \
    && node -e "const fs=require('fs'),p='node_modules/onnxruntime-node/bin/napi-v6';for(const os of fs.readdirSync(p))for(const a of fs.readdirSync(p+'/'+os))if(os!=='linux'||a!==(process.arch==='arm64'?'arm64':'x64'))fs.rmSync(p+'/'+os+'/'+a,{recursive:true})"
# npm drops an optional dependency whose install script failed and still exits 0: fail the build instead.
# Only the native binding must load here; there is no GPU at build time.
COPY scripts/check-gpu-backend.mjs scripts/
RUN node scripts/check-gpu-backend.mjs

FROM gpu-base AS gpu
WORKDIR /app
COPY --from=gpu-deps /app/node_modules ./node_modules
COPY --from=app /app ./
# Also in the image, to check a running container: node scripts/check-gpu-backend.mjs --require-gpu
COPY scripts/check-gpu-backend.mjs scripts/
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    DREAM_BACKEND=tensorflow \
    DREAM_MODEL_CACHE=/var/cache/deepdream/models \
    DREAM_STYLES_DIR=/var/lib/deepdream/styles \
    DATABASE_URL=sqlite:/var/lib/deepdream/data/deepdream.sqlite \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    CUDA_CACHE_PATH=/var/cache/cuda \
    CUDA_CACHE_MAXSIZE=4294967296 \
    HEALTH_PORT=8080
VOLUME ["/var/cache/deepdream/models", "/var/lib/deepdream/styles", "/var/cache/cuda", "/var/lib/deepdream/data"]
EXPOSE 8080
USER dream
# 200 from /healthz once the bot is connected and its workers are up; 503 (unhealthy) otherwise. The long
# start period covers the first start on Hopper, where the PTX JIT can take minutes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.HEALTH_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx/esm", "src/bin/bot.ts"]
