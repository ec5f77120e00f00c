# nginx from Debian's package, for machines that cannot pull nginx:1.27. The configuration and the
# certificate are mounted by whoever runs it (see deploy/nginx/).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 443
CMD ["nginx", "-g", "daemon off;"]
