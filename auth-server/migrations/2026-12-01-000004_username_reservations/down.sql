DROP TABLE username_reservations;
