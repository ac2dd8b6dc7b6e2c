-- Products, orders and their lines. Ids are `prd_`/`ord_` + a ULID and sort
-- by creation; COLLATE "C" makes the database sort them byte by byte, as the
-- app does, so keyset pages ("after id X") follow id order.
CREATE TABLE products (
    id          text COLLATE "C" PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    stock       bigint NOT NULL CHECK (stock >= 0),
    version     bigint NOT NULL CHECK (version >= 1),
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL,
    -- Lower-cased by the app (Rust's to_lowercase), so search matches
    -- exactly what the in-memory store matches, whatever the collation.
    sku_lower   text NOT NULL,
    name_lower  text NOT NULL,
    CONSTRAINT products_sku_key UNIQUE (sku)
);

CREATE TABLE orders (
    id          text COLLATE "C" PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('placed', 'cancelled')),
    total_cents bigint NOT NULL,
    version     bigint NOT NULL CHECK (version >= 1),
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL
);

CREATE TABLE order_lines (
    order_id         text COLLATE "C" NOT NULL REFERENCES orders (id),
    line_no          integer NOT NULL,
    product_id       text COLLATE "C" NOT NULL REFERENCES products (id),
    sku              text NOT NULL,
    name             text NOT NULL,
    quantity         bigint NOT NULL CHECK (quantity >= 1),
    unit_price_cents bigint NOT NULL,
    line_total_cents bigint NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
