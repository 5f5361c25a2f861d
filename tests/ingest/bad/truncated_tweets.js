window.YTD.tweets.part0 = [
 {
  "tweet": {
   "id_str": "1000",
   "full_text": "post number 0 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "0",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1001",
   "full_text": "post number 1 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "1",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1002",
   "full_text": "post number 2 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "2",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1003",
   "full_text": "post number 3 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "3",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1004",
   "full_text": "post number 4 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "4",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1005",
   "full_text": "post number 5 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "5",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1006",
   "full_text": "post number 6 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "6",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1007",
   "full_text": "post number 7 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "7",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1008",
   "full_text": "post number 8 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "8",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1009",
   "full_text": "post number 9 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "9",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1010",
   "full_text": "post number 10 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "10",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1011",
   "full_text": "post number 11 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "11",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1012",
   "full_text": "post number 12 about testing",
   "created_at": "Thu Nov 03 08:50:26 +0000 2022",
   "favorite_count": "12",
   "retweet_count": "1",
   "lang": "en",
   "entities": {}
  }
 },
 {
  "tweet": {
   "id_str": "1013",
   "full_text": "post number 13 about